// Request bodies: JSON only, size-limited, parsed with the shared schemas.
import type { Context } from 'hono';
import type { z } from 'zod';
import { fail } from './errors.ts';

export const MAX_BODY_BYTES = 64 * 1024;

/** Reads the raw body once (signature checks hash these exact bytes). */
export async function readBody(c: Context): Promise<string> {
  const type = c.req.header('content-type') ?? '';
  if (!/^application\/json\b/i.test(type)) {
    fail(415, 'unsupported_media_type', 'Send the request body as application/json.');
  }
  return new TextDecoder().decode(await readCapped(c, MAX_BODY_BYTES));
}

/**
 * The body's bytes, refused with 413 once more than `max` arrive: a declared Content-Length over it
 * is refused before anything is read, and a chunked body (no length) is cut off as it streams past
 * the limit, so no request holds more than `max` bytes of the edge's memory.
 */
export async function readCapped(c: Context, max: number): Promise<Uint8Array<ArrayBuffer>> {
  const tooLarge = () => fail(413, 'payload_too_large', `Bodies are limited to ${max} bytes.`);
  if (Number(c.req.header('content-length') ?? 0) > max) tooLarge();
  const body = c.req.raw.body;
  if (!body) return new Uint8Array(0);
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > max) {
      await reader.cancel();
      tooLarge();
    }
    chunks.push(value);
  }
  const out = new Uint8Array(size);
  let at = 0;
  for (const chunk of chunks) {
    out.set(chunk, at);
    at += chunk.byteLength;
  }
  return out;
}

export function parseBody<S extends z.ZodType>(text: string, schema: S): z.infer<S> {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    fail(400, 'invalid_json', 'The request body is not valid JSON.');
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) {
    // zod quotes offending keys in its messages: a key may hold control characters or be huge.
    const issues = parsed.error.issues.map((i) => ({
      path: printable(i.path.join('.')),
      message: printable(i.message),
    }));
    const first = issues[0];
    const where = first?.path ? ` at ${first.path}` : '';
    fail(
      400,
      'invalid_request',
      `Invalid request${where}: ${first?.message ?? 'schema mismatch'}.`,
      issues,
    );
  }
  return parsed.data;
}

/** Text from a request made safe to echo in one line: control characters escaped, at most 200 characters. */
export function printable(text: string): string {
  // Matching control characters is the point here.
  const escaped = text.replace(
    // eslint-disable-next-line no-control-regex
    /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g,
    (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
  return escaped.length > 200 ? `${escaped.slice(0, 199)}…` : escaped;
}
