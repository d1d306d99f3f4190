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
    const issues = parsed.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message }));
    const first = issues[0];
    const where = first?.path ? ` at ${first.path}` : '';
    fail(400, 'invalid_request', `Invalid request${where}: ${first?.message ?? 'schema mismatch'}.`, issues);
  }
  return parsed.data;
}
