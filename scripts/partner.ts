// Operator command for partner sites, the sites that embed the widget:
//   npm run partner -- add ID NAME ORIGIN…   register (or update) a partner and the origins that may frame it
//   npm run partner -- list                  partners with their origins and verified results
//   npm run partner -- remove ID             stop serving its widget (its leases keep the attribution)
// Writes the local D1 in --persist (default .wrangler/state), or the deployed one with --remote.
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { PartnerId } from '../shared/protocol.ts';
import { partnerOrigin } from '../edge/src/partner-origin.ts';
import { migrate, sqlLiteral } from './lib/local-edge.ts';
import { d1Json, localD1, remoteD1, ROOT } from './lib/wrangler.ts';

const USAGE = `usage: npm run partner -- add ID NAME ORIGIN… | list | remove ID   [--persist DIR] [--remote]
  ID: 1–40 lowercase letters, digits or -;  NAME: shown in the widget (quote it);
  ORIGIN: https://host[:port] of a page that embeds the widget (http only for localhost)`;

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    remote: { type: 'boolean', default: false },
    persist: { type: 'string', default: '.wrangler/state' },
  },
});
// Partners live in shard 0 (edge/src/shards.ts); locally every shard is migrated first.
const persist = resolve(ROOT, values.persist);
const target = values.remote ? remoteD1() : localD1(persist);

function usage(problem?: string): never {
  if (problem) console.error(problem);
  console.error(USAGE);
  process.exit(2);
}

/** Runs one statement with `--json` and returns its rows. */
const d1 = (sql: string) => d1Json(target, sql);

const [command, ...args] = positionals;
if (!values.remote && command && ['add', 'list', 'remove'].includes(command)) {
  await migrate(persist);
}

if (command === 'add') {
  const [id = '', name = '', ...rawOrigins] = args;
  if (!PartnerId.safeParse(id).success) usage(`"${id}" is not a partner id.`);
  const cleanName = name.trim();
  if (!cleanName || cleanName.length > 80 || /\p{Cc}/u.test(cleanName)) {
    usage('NAME must be 1–80 printable characters.');
  }
  if (!rawOrigins.length) usage('Give at least one ORIGIN that may embed the widget.');
  const origins = rawOrigins.map((o) => partnerOrigin(o));
  const bad = rawOrigins.filter((_, i) => !origins[i]);
  if (bad.length) {
    usage(`Not an origin (scheme://host[:port], https unless localhost): ${bad.join(', ')}`);
  }
  const unique = [...new Set(origins as string[])];
  await d1(
    `INSERT INTO partners (id, name, origins_json, created_at) VALUES (${sqlLiteral(id)}, ${sqlLiteral(cleanName)}, ${sqlLiteral(JSON.stringify(unique))}, ${Date.now()})
     ON CONFLICT (id) DO UPDATE SET name = excluded.name, origins_json = excluded.origins_json`,
  );
  console.log(`partner ${id} (${cleanName}) may embed the widget from ${unique.join(', ')}:`);
  console.log(
    `  <script src="https://YOUR-TABGRID-HOST/widget.js" data-partner="${id}" async></script>`,
  );
} else if (command === 'list') {
  const rows = await d1(
    `SELECT p.id, p.name, p.origins_json AS origins,
       (SELECT count(*) FROM leases l JOIN results r ON r.lease_id = l.id WHERE l.partner_id = p.id AND r.verdict = 'valid') AS verified
     FROM partners p ORDER BY p.created_at, p.id`,
  );
  if (!rows.length) console.log('no partners yet: npm run partner -- add ID NAME ORIGIN…');
  for (const r of rows)
    console.log(
      `${r.id}\t${r.name}\t${(JSON.parse(String(r.origins)) as string[]).join(' ')}\t${r.verified} verified results`,
    );
} else if (command === 'remove') {
  const [id = ''] = args;
  if (!PartnerId.safeParse(id).success) usage(`"${id}" is not a partner id.`);
  const removed = await d1(`DELETE FROM partners WHERE id = ${sqlLiteral(id)} RETURNING id`);
  console.log(
    removed.length
      ? `partner ${id} removed: its widget no longer loads; past leases keep the attribution.`
      : `no partner ${id}.`,
  );
} else {
  usage();
}
