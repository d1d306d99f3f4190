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
  const declared = Number(c.req.header('content-length') ?? 0);
  if (declared > MAX_BODY_BYTES) fail(413, 'payload_too_large', `Bodies are limited to ${MAX_BODY_BYTES} bytes.`);
  const text = await c.req.text();
  if (new TextEncoder().encode(text).length > MAX_BODY_BYTES) {
    fail(413, 'payload_too_large', `Bodies are limited to ${MAX_BODY_BYTES} bytes.`);
  }
  return text;
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
    const issues = parsed.error.issues.map((i) => ({ path: printable(i.path.join('.')), message: printable(i.message) }));
    const first = issues[0];
    const where = first?.path ? ` at ${first.path}` : '';
    fail(400, 'invalid_request', `Invalid request${where}: ${first?.message ?? 'schema mismatch'}.`, issues);
  }
  return parsed.data;
}

/** Text from a request made safe to echo in one line: control characters escaped, at most 200 characters. */
export function printable(text: string): string {
  const escaped = text.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`);
  return escaped.length > 200 ? `${escaped.slice(0, 199)}…` : escaped;
}
