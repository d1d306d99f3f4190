import { describe, expect, it } from 'vitest';
import {
  BYTE_VOCAB,
  buildByteDataset,
  buildCharDataset,
  buildDataset,
  DatasetManifest,
} from './dataset.ts';

const OPTS = {
  id: 'mixed',
  name: 'Mixed',
  source: 'test',
  license: 'CC0-1.0',
  windows: 4,
  maxContext: 8,
};
const TEXT = '日本語のテキスト, and some ASCII. '.repeat(20);

describe('tokenizers', () => {
  it('byte: one token per UTF-8 byte, a vocabulary of 256 whatever the alphabet', async () => {
    const { manifest, train, val } = await buildByteDataset(TEXT, OPTS);
    expect(DatasetManifest.parse(manifest)).toEqual(manifest);
    expect(manifest).toMatchObject({ tokenizer: 'byte', dtype: 'uint8' });
    expect(manifest.vocab).toBe(BYTE_VOCAB);
    expect(manifest.vocab).toHaveLength(256);
    expect(manifest.vocab.slice(0x41, 0x43)).toEqual(['A', 'B']);
    expect(manifest.vocab[0x0a]).toBe('<0x0A>');
    expect(new Set(manifest.tokenBytes)).toEqual(new Set([1]));
    const bytes = new TextEncoder().encode(TEXT);
    expect(train.length + val.length).toBe(bytes.length);
    expect(new TextDecoder().decode(Uint8Array.from([...train, ...val]))).toBe(TEXT);
  });

  it('char: one token per distinct character; recorded by buildDataset, left out by the built-in corpora', async () => {
    const char = await buildDataset(TEXT, { ...OPTS, tokenizer: 'char' });
    const builtIn = await buildCharDataset(TEXT, OPTS);
    expect(builtIn.manifest).not.toHaveProperty('tokenizer'); // their manifests keep their hashes
    expect(char).toEqual({ ...builtIn, manifest: { ...builtIn.manifest, tokenizer: 'char' } });
    expect(char.manifest.vocab.length).toBe(new Set(Array.from(TEXT)).size);
    expect((await buildDataset(TEXT, { ...OPTS, tokenizer: 'byte' })).manifest.tokenizer).toBe(
      'byte',
    );
    expect(DatasetManifest.safeParse({ ...char.manifest, tokenizer: 'bpe' }).success).toBe(false);
  });
});
