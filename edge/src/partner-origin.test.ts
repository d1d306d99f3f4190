import { describe, expect, it } from 'vitest';
import { partnerOrigin } from './partner-origin.ts';

describe('partnerOrigin', () => {
  it('accepts serialized https origins and loopback http, nothing else', () => {
    expect(partnerOrigin('https://news.example')).toBe('https://news.example');
    expect(partnerOrigin('https://News.Example:8443/')).toBe('https://news.example:8443');
    expect(partnerOrigin('http://localhost:5173')).toBe('http://localhost:5173');
    expect(partnerOrigin('http://127.0.0.1:9000')).toBe('http://127.0.0.1:9000');
    for (const bad of [
      'http://news.example', // plain http off loopback: no secure context for the widget
      'https://news.example/path',
      'https://news.example?q=1',
      'https://user:pw@news.example',
      'https://news.example; script-src *', // would smuggle a directive into the CSP header
      'https://*.example',
      "'self'",
      '*',
      'javascript:alert(1)',
      'news.example',
    ]) {
      expect(partnerOrigin(bad), bad).toBeNull();
    }
  });
});
