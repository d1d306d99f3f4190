// Address identities: IPv4 by address, IPv6 by /64, loopback none.
import { describe, expect, it } from 'vitest';
import { ipHash, network } from './secrets.ts';

describe('ipHash', () => {
  it('counts an IPv6 /64 as one network, however its addresses are spelled', () => {
    expect(network('2001:db8:85a3:7:8a2e:370:7334:1')).toBe('2001:db8:85a3:7::/64');
    expect(network('2001:0DB8:85a3:0007::1')).toBe('2001:db8:85a3:7::/64');
    expect(network('2001:db8::1')).toBe('2001:db8:0:0::/64');
    expect(network('2001:db8:0:0:ffff::9%eth0')).toBe('2001:db8:0:0::/64');
    expect(network('::ffff:198.51.100.7')).toBe('198.51.100.7');
    expect(network(' 198.51.100.7 ')).toBe('198.51.100.7');
    for (const junk of ['1:2:3:4:5:6:7:8:9::1', ':::', '1::2::3', 'zz::1', '1:2:3'])
      expect(network(junk)).toBe(junk); // as text, never a throw
  });

  it('joins two addresses of one /64 and keeps two /64s and two IPv4 addresses apart', async () => {
    const h = (ip: string) => ipHash('salt', ip);
    expect(await h('2001:db8:1:2::a')).toBe(await h('2001:db8:1:2:ffff:ffff:ffff:ffff'));
    expect(await h('2001:db8:1:2::a')).not.toBe(await h('2001:db8:1:3::a'));
    expect(await h('198.51.100.7')).not.toBe(await h('198.51.100.8'));
    expect(await h('198.51.100.7')).toBe(await h('::ffff:198.51.100.7'));
    expect(await ipHash('other', '198.51.100.7')).not.toBe(await h('198.51.100.7'));
  });

  it('gives loopback and missing addresses no identity', async () => {
    for (const ip of ['127.0.0.1', '::1', '::ffff:127.0.0.1', '', null, undefined])
      expect(await ipHash('salt', ip)).toBeNull();
  });
});
