// `npm run tabgrid -- <command>`: a researcher's command line, on shared/researcher-client.ts.
//   campaign create BRIEF.yaml|BRIEF.json   check the brief here with the edge's schema, then create it
//   campaign watch ID [--interval S]         live progress bar and each newly verified experiment
//   corpus ID|all --format jsonl|csv|parquet [--out FILE]
//   dataset add NAME PATH|URL [--license TEXT] [--tokenizer char|byte] [--title T] [--sha256 HEX]
//                                             (also `npm run dataset -- add …`; a file over 5 MiB goes
//                                             up in parts, and running it again resumes an interrupted upload)
// The edge: --url, TABGRID_URL or the config file (default http://localhost:8787). The token (only
// `campaign create` needs one): TABGRID_TOKEN, --token-file FILE or the config file
// (~/.config/tabgrid/config.json: {"url": …, "token": …}); --token works but lands in shell history.
import { readFileSync, writeFileSync } from 'node:fs';
import { basename } from 'node:path';
import { parseArgs } from 'node:util';
import { ResearcherClient, TabgridError, checkBrief } from '../shared/researcher-client.ts';
import type { CorpusRecord } from '../shared/protocol.ts';
import {
  corpusParquet,
  datasetFromBytes,
  progressBar,
  readBrief,
  resolveConnection,
  verifiedLine,
} from './lib/tabgrid-cli.ts';

const USAGE = `usage: npm run tabgrid -- <command> [--url URL]
  campaign create BRIEF.yaml|BRIEF.json     (token: TABGRID_TOKEN, --token-file FILE or the config file)
  campaign watch ID [--interval SECONDS] [--no-exit]
  corpus ID|all --format jsonl|csv|parquet [--out FILE]
  dataset add NAME PATH|URL [--license TEXT] [--tokenizer char|byte] [--title TEXT] [--sha256 HEX]`;

function usage(): never {
  console.error(USAGE);
  process.exit(2);
}

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    url: { type: 'string' },
    token: { type: 'string' },
    'token-file': { type: 'string' },
    format: { type: 'string', default: 'jsonl' },
    out: { type: 'string' },
    interval: { type: 'string', default: '3' },
    'no-exit': { type: 'boolean', default: false },
    license: { type: 'string' },
    tokenizer: { type: 'string' },
    title: { type: 'string' },
    sha256: { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (values.help) {
  console.log(USAGE);
  process.exit(0);
}

const conn = resolveConnection(
  { url: values.url, token: values.token, tokenFile: values['token-file'] },
  process.env,
);
if (conn.tokenFrom === 'flag')
  console.error(
    'note: --token is kept in your shell history; prefer TABGRID_TOKEN or --token-file.',
  );
const client = new ResearcherClient({ baseUrl: conn.url, token: conn.token });

async function create(file: string): Promise<void> {
  const brief = checkBrief(readBrief(file)); // the schema, offline, before anything is sent
  const campaign = await client.createCampaign(brief);
  console.log(
    `campaign ${campaign.id} created: ${campaign.experiments} experiments on ${campaign.datasetId}`,
  );
  console.log(`  ${conn.url}/campaigns/${campaign.id}`);
  console.log(`  npm run tabgrid -- campaign watch ${campaign.id}`);
}

async function watch(id: string): Promise<void> {
  const seconds = Number(values.interval);
  if (!(seconds >= 1)) usage();
  const tty = process.stdout.isTTY;
  let bar = '';
  const stop = new AbortController();
  process.once('SIGINT', () => stop.abort());
  for await (const tick of client.watch(id, {
    intervalMs: seconds * 1000,
    stopWhenDone: !values['no-exit'],
    signal: stop.signal,
  })) {
    if (!bar) console.log(`${tick.campaign.name} (${tick.campaign.id})`);
    if (tty && bar) process.stdout.write('\r\x1b[2K'); // clear the bar, print lines above it
    for (const row of tick.verified) console.log(verifiedLine(row));
    const next = progressBar(tick.progress);
    if (tty) process.stdout.write(next);
    else if (next !== bar) console.log(next);
    bar = next;
    if (tick.done && !values['no-exit']) {
      if (tty) process.stdout.write('\n');
      console.log('done: every experiment is verified or disputed.');
    }
  }
  if (stop.signal.aborted && tty) process.stdout.write('\n');
}

async function corpus(id: string): Promise<void> {
  const format = values.format;
  const campaign = id === 'all' ? undefined : id;
  if (campaign) await client.campaign(campaign); // unknown_campaign before writing anything
  let out: string | Uint8Array;
  if (format === 'parquet') {
    const records: CorpusRecord[] = [];
    for await (const r of client.corpusRecords({ campaign })) records.push(r);
    out = corpusParquet(records);
    if (!values.out) {
      if (process.stdout.isTTY) {
        console.error('Parquet is binary: pass --out FILE or redirect stdout.');
        process.exit(2);
      }
    }
    console.error(`${records.length} verified records`);
  } else if (format === 'jsonl' || format === 'csv') {
    out = await client.corpusText({ campaign, format });
  } else usage();
  if (values.out) {
    writeFileSync(values.out, out);
    console.error(`wrote ${values.out} (${out.length} bytes)`);
  } else process.stdout.write(out);
}

async function addDataset(name: string, from: string): Promise<void> {
  const url = /^https?:\/\//.test(from);
  const raw = url
    ? new Uint8Array(await (await fetch(from)).arrayBuffer())
    : new Uint8Array(readFileSync(from));
  const built = await datasetFromBytes(raw, {
    id: name,
    title: values.title,
    source: url ? from : basename(from),
    license: values.license,
    tokenizer: values.tokenizer,
    sha256: values.sha256,
  });
  const m = built.manifest;
  const bytes = built.train.byteLength + built.val.byteLength;
  console.log(
    `${name}: ${m.tokenizer ?? 'char'} tokenizer, vocabulary ${m.vocab.length}, ` +
      `${m.train.tokens} train + ${m.val.tokens} val tokens (${bytes} bytes), text ${m.sourceSha256}`,
  );
  const { dataset, created } = await client.addDataset(built, (p) =>
    console.error(
      `  ${p.sha256.slice(0, 12)}… part ${p.part}/${p.parts} ${p.resumed ? 'already on the edge' : 'sent'}`,
    ),
  );
  console.log(
    `dataset ${dataset.id} ${created ? 'registered' : 'was already registered'}: manifest ${dataset.manifestSha256}`,
  );
  console.log(`  a brief names it as  datasetId: ${dataset.id}`);
}

try {
  const [group, verb, arg, extra] = positionals;
  if (group === 'campaign' && verb === 'create' && arg) await create(arg);
  else if (group === 'campaign' && verb === 'watch' && arg) await watch(arg);
  else if (group === 'corpus' && verb && !arg) await corpus(verb);
  else if (group === 'dataset' && verb === 'add' && arg && extra) await addDataset(arg, extra);
  else usage();
} catch (e) {
  if (e instanceof TabgridError) {
    console.error(`${e.code}${e.status ? ` (HTTP ${e.status})` : ''}: ${e.describe()}`);
    process.exit(1);
  }
  if (e instanceof TypeError && /fetch failed/.test(e.message)) {
    console.error(
      `cannot reach ${conn.url}: ${(e.cause as Error | undefined)?.message ?? e.message}`,
    );
    process.exit(1);
  }
  throw e;
}
