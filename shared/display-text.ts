// Text that people set and others read (display names, campaign names and briefs): refused when it
// holds control or invisible formatting characters. NUL and BEL corrupt logs and terminals, and the
// bidirectional controls (U+202A–U+202E, U+2066–U+2069, U+200E/F, U+061C) make a name render as
// other text than it is (U+202E reverses what follows). The zero-width joiner (U+200D) stays: emoji
// sequences need it.
import { z } from 'zod';

/** Cc (controls) and Cf (formatting) but U+200D; `multiline` lets line feeds and tabs through. */
const FORBIDDEN = /(?!\u200d)[\p{Cc}\p{Cf}\u2028\u2029]/u;
const FORBIDDEN_MULTILINE = /(?![\n\t\u200d])[\p{Cc}\p{Cf}\u2028\u2029]/u;

export function displayText(min: number, max: number, opts: { multiline?: boolean } = {}) {
  const forbidden = opts.multiline ? FORBIDDEN_MULTILINE : FORBIDDEN;
  return z
    .string()
    .trim()
    .min(min)
    .max(max)
    .refine((s) => !forbidden.test(s), {
      message: `must not contain control or invisible formatting characters (such as NUL or the right-to-left override U+202E)${opts.multiline ? '; line breaks and tabs are fine' : ''}`,
    });
}
