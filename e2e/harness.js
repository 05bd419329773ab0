// Starts a real `tributary-node --dev` on free ports, connects @polkadot/api to it, and stops
// it afterwards. The binary is $TRIBUTARY_NODE, or the release build in $CARGO_TARGET_DIR.
// Starts a real `tributary-lora serve` the same way: $TRIBUTARY_LORA (or the release build in
// ~/.cache/tributary/target-lora) over $TRIBUTARY_MODEL (or the SmolLM2 file
// scripts/fetch-model.sh downloads).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

import { ApiPromise, WsProvider } from '@polkadot/api';

import { rpc, types } from '../types/tributary.js';

const here = path.dirname(new URL(import.meta.url).pathname);

export function nodeBinary() {
  if (process.env.TRIBUTARY_NODE) return process.env.TRIBUTARY_NODE;
  const target = process.env.CARGO_TARGET_DIR
    ?? path.join(os.homedir(), '.cache', 'tributary', 'target');
  const binary = path.join(target, 'release', 'tributary-node');
  if (!existsSync(binary)) {
    throw new Error(`${binary} does not exist: build it with scripts/test.sh or set TRIBUTARY_NODE`);
  }
  return binary;
}

export function loraBinary() {
  if (process.env.TRIBUTARY_LORA) return process.env.TRIBUTARY_LORA;
  const binary = path.join(os.homedir(), '.cache', 'tributary', 'target-lora', 'release', 'tributary-lora');
  if (!existsSync(binary)) {
    throw new Error(`${binary} does not exist: build it with scripts/test.sh or set TRIBUTARY_LORA`);
  }
  return binary;
}

export function modelFile() {
  if (process.env.TRIBUTARY_MODEL) return process.env.TRIBUTARY_MODEL;
  const models = process.env.TRIBUTARY_MODELS_DIR ?? path.join(os.homedir(), '.cache', 'tributary', 'models');
  const file = path.join(models, 'SmolLM2-135M-Instruct.Q4_1.gguf');
  if (!existsSync(file)) {
    throw new Error(`${file} does not exist: fetch it with scripts/fetch-model.sh or set TRIBUTARY_MODEL`);
  }
  return file;
}

export async function freePort() {
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address();
  server.close();
  await once(server, 'close');
  return port;
}

export function tempDir(prefix = 'tributary-e2e-') {
  return mkdtempSync(path.join(os.tmpdir(), prefix));
}

/**
 * A running dev node. `basePath` keeps the chain between starts; without it the node runs
 * with `--tmp`.
 */
export class DevNode {
  constructor({ basePath, extraArgs = [] } = {}) {
    this.basePath = basePath;
    this.extraArgs = extraArgs;
    this.log = [];
  }

  async start() {
    this.rpcPort = await freePort();
    this.p2pPort = await freePort();
    // As scripts/dev.sh runs it: serving indexed records over Bitswap.
    const args = [
      '--dev',
      ...(this.basePath ? ['--base-path', this.basePath] : ['--tmp']),
      '--ipfs-server',
      '--rpc-port', String(this.rpcPort),
      '--port', String(this.p2pPort),
      '--prometheus-port', String(this.prometheusPort = await freePort()),
      '--no-telemetry',
      ...this.extraArgs,
    ];
    this.process = spawn(nodeBinary(), args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const keep = (chunk) => {
      this.log.push(chunk.toString());
      if (this.log.length > 400) this.log.shift();
    };
    this.process.stdout.on('data', keep);
    this.process.stderr.on('data', keep);
    this.exited = once(this.process, 'exit');
    this.api = await this.connect();
    return this;
  }

  get endpoint() {
    return `ws://127.0.0.1:${this.rpcPort}`;
  }

  async connect(timeoutMs = 120_000) {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (this.process.exitCode !== null) {
        throw new Error(`tributary-node exited with ${this.process.exitCode}:\n${this.log.join('')}`);
      }
      if (await this.rpcAnswers()) {
        // With Tributary's RPC definitions, as a user's client would connect.
        return ApiPromise.create({ provider: new WsProvider(this.endpoint), rpc, types, noInitWarn: true });
      }
      await sleep(250);
    }
    throw new Error(`no RPC at ${this.endpoint} within ${timeoutMs} ms:\n${this.log.join('')}`);
  }

  /** The node's Prometheus metric `name` (summed over its labels), as a number. */
  async metric(name) {
    const text = await (await fetch(`http://127.0.0.1:${this.prometheusPort}/metrics`)).text();
    const lines = text.split('\n').filter((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`));
    return lines.length === 0 ? undefined : lines.reduce((sum, l) => sum + Number(l.split(' ').pop()), 0);
  }

  /** The node's libp2p address, as an IPFS client dials it. */
  async multiaddr() {
    const peerId = await this.api.rpc.system.localPeerId();
    return `/ip4/127.0.0.1/tcp/${this.p2pPort}/p2p/${peerId}`;
  }

  async rpcAnswers() {
    try {
      const response = await fetch(`http://127.0.0.1:${this.rpcPort}`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ id: 1, jsonrpc: '2.0', method: 'system_health', params: [] }),
      });
      return response.ok;
    } catch {
      return false;
    }
  }

  async stop() {
    await this.api?.disconnect().catch(() => {});
    if (this.process && this.process.exitCode === null) {
      this.process.kill('SIGINT');
      const killer = setTimeout(() => this.process.kill('SIGKILL'), 20_000);
      await this.exited;
      clearTimeout(killer);
    }
  }
}

/**
 * A running `tributary-lora serve` with its adapters and index in a directory of its own. With
 * `tokens`, it runs with an admin token and an API key (each in a file there, `apiKeyFile`
 * for the node), and `post` sends the one each route takes.
 */
export class LoraService {
  constructor({ tokens = false, extraArgs = [] } = {}) {
    this.tokens = tokens;
    this.extraArgs = extraArgs;
  }

  /** Starts the service; started again after `stop`, it keeps its port and tokens, not its data. */
  async start() {
    this.dir = tempDir('tributary-e2e-lora-');
    this.port ??= await freePort();
    this.log = [];
    const args = [
      'serve',
      '--listen', `127.0.0.1:${this.port}`,
      '--model', modelFile(),
      '--adapters-dir', path.join(this.dir, 'adapters'),
      '--data-dir', path.join(this.dir, 'data'),
      ...this.extraArgs,
    ];
    if (this.tokens) {
      this.adminToken ??= `admin-${randomBytes(16).toString('hex')}`;
      this.apiKey ??= `key-${randomBytes(16).toString('hex')}`;
      this.apiKeyFile = path.join(this.dir, 'api-key');
      this.adminTokenFile = path.join(this.dir, 'admin-token');
      writeFileSync(this.adminTokenFile, `${this.adminToken}\n`, { mode: 0o600 });
      writeFileSync(this.apiKeyFile, `${this.apiKey}\n`, { mode: 0o600 });
      args.push('--admin-token-file', this.adminTokenFile, '--api-key-file', this.apiKeyFile);
    }
    this.process = spawn(loraBinary(), args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const keep = (chunk) => {
      this.log.push(chunk.toString());
      if (this.log.length > 400) this.log.shift();
    };
    this.process.stdout.on('data', keep);
    this.process.stderr.on('data', keep);
    this.exited = once(this.process, 'exit');
    await waitFor(async () => {
      if (this.process.exitCode !== null) {
        throw new Error(`tributary-lora exited with ${this.process.exitCode}:\n${this.log.join('')}`);
      }
      return this.healthy();
    }, 120_000, 'tributary-lora to answer /health');
    return this;
  }

  get url() {
    return `http://127.0.0.1:${this.port}`;
  }

  async healthy() {
    try {
      return (await fetch(`${this.url}/health`)).ok;
    } catch {
      return false;
    }
  }

  /**
   * POSTs JSON to the service with the token its route takes (`token` overrides it: `null`
   * sends none); resolves with `{status, body}`.
   */
  async post(route, body, token) {
    return this.request('POST', route, body, token);
  }

  /** As `post`, with any method (`body` undefined sends none). */
  async request(method, route, body, token) {
    const changesState = method !== 'POST' || /^\/v1\/(adapters|blobs|datasets\/)/.test(route);
    const bearer = token !== undefined ? token : (changesState ? this.adminToken : this.apiKey);
    const headers = { 'Content-Type': 'application/json' };
    if (bearer) headers.Authorization = `Bearer ${bearer}`;
    const init = { method, headers };
    if (body !== undefined) init.body = JSON.stringify(body);
    const response = await fetch(`${this.url}${route}`, init);
    return { status: response.status, body: await response.json() };
  }

  /** The records the service holds for a dataset, by contribution id (`{content_hash, tokens}`). */
  async records(datasetId) {
    const held = new Map();
    let after = '';
    for (;;) {
      const { status, body } = await this.request('GET', `/v1/datasets/${datasetId}/records?limit=1000${after}`);
      if (status !== 200) throw new Error(`listing dataset ${datasetId}: ${status} ${JSON.stringify(body)}`);
      for (const record of body.data) held.set(record.contribution_id, record);
      if (!body.has_more || body.data.length === 0) return held;
      after = `&after=${body.data[body.data.length - 1].contribution_id}`;
    }
  }

  /** Waits until the service holds `contributionId` in `datasetId`; resolves with the record. */
  async waitForRecord(datasetId, contributionId, timeoutMs) {
    let record;
    await waitFor(async () => {
      record = (await this.records(datasetId)).get(contributionId);
      return record !== undefined;
    }, timeoutMs, `dataset ${datasetId}'s record ${contributionId} in the LoRA service`);
    return record;
  }

  /** The service's Prometheus metric `name` (after `tributary_lora_`), as a number. */
  async metric(name) {
    const text = await (await fetch(`${this.url}/metrics`)).text();
    const line = text.split('\n').find((l) => l.startsWith(`tributary_lora_${name} `));
    return line === undefined ? undefined : Number(line.split(' ')[1]);
  }

  /** Runs `tributary-lora` with `args` (e.g. `adapter new`) and resolves with its stdout. */
  static async run(args) {
    const child = spawn(loraBinary(), args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (chunk) => { out += chunk; });
    child.stderr.on('data', (chunk) => { err += chunk; });
    const [code] = await once(child, 'exit');
    if (code !== 0) throw new Error(`tributary-lora ${args.join(' ')} exited with ${code}: ${err}`);
    return out;
  }

  async stop() {
    if (this.process && this.process.exitCode === null) {
      this.process.kill('SIGTERM');
      const killer = setTimeout(() => this.process.kill('SIGKILL'), 10_000);
      await this.exited;
      clearTimeout(killer);
    }
    if (this.dir) removeDir(this.dir);
  }
}

/**
 * A web server outside the system, as an adapter's owner publishes its files: serves the files
 * of `dir` under `/<name>/` on a free port and counts the requests (`hits`).
 */
export class FileServer {
  constructor(dir, name) {
    this.dir = dir;
    this.name = name;
    this.hits = 0;
  }

  async start() {
    this.server = http.createServer((request, response) => {
      this.hits += 1;
      const prefix = `/${this.name}/`;
      const file = request.url.startsWith(prefix) ? request.url.slice(prefix.length) : '';
      if (!/^[A-Za-z0-9_.-]+$/.test(file) || !existsSync(path.join(this.dir, file))) {
        response.writeHead(404).end('not found');
        return;
      }
      response.writeHead(200, { 'Content-Type': 'application/octet-stream' });
      response.end(readFileSync(path.join(this.dir, file)));
    });
    this.server.listen(0, '127.0.0.1');
    await once(this.server, 'listening');
    return this;
  }

  /** The URI of the served directory. */
  get uri() {
    return `http://127.0.0.1:${this.server.address().port}/${this.name}`;
  }

  async stop() {
    this.server?.closeAllConnections();
    await new Promise((resolve) => { this.server ? this.server.close(resolve) : resolve(); });
  }
}

export function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export async function waitFor(predicate, timeoutMs, what = 'condition') {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await predicate()) return;
    await sleep(100);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

/** A dispatch error as `section.Name` (for pallet errors) or its JSON. */
export function describeError(api, dispatchError) {
  if (dispatchError.isModule) {
    const { section, name, docs } = api.registry.findMetaError(dispatchError.asModule);
    return `${section}.${name}: ${docs.join(' ')}`;
  }
  return dispatchError.toString();
}

/**
 * Signs and sends `tx`, resolving with the events of its block once it is finalized. `options`
 * are @polkadot/api's signer options (e.g. `{ mode: 1, metadataHash }`).
 */
export async function sendAndFinalize(api, tx, signer, options = {}) {
  // A signer that is also a provider's operator shares its account with that provider's
  // off-chain worker, which may have a transaction in another node's pool with the nonce this
  // node hands out: the pool refuses ours (1014, "Priority is too low") and nothing of it is
  // included, so it is signed again, with the next nonce, once a block has passed.
  for (let attempt = 1; ; attempt++) {
    try {
      return await sendAndFinalizeOnce(api, tx, signer, options);
    } catch (e) {
      if (attempt >= 4 || options.nonce !== undefined || !String(e?.message ?? e).startsWith('1014:')) throw e;
      await new Promise((resolve) => setTimeout(resolve, 7_000));
    }
  }
}

function sendAndFinalizeOnce(api, tx, signer, options) {
  return new Promise((resolve, reject) => {
    tx.signAndSend(signer, options, ({ status, events, dispatchError }) => {
      if (dispatchError) {
        reject(new Error(`dispatch failed: ${describeError(api, dispatchError)}`));
      } else if (status.isFinalized) {
        resolve({ blockHash: status.asFinalized, events });
      } else if (status.isInvalid || status.isDropped || status.isUsurped) {
        reject(new Error(`transaction ${status.type}`));
      }
    }).catch(reject);
  });
}

/** The first event `section.method` among a block's events. */
export function eventOf(events, section, method) {
  const found = events.find(({ event }) => event.section === section && event.method === method);
  assert.ok(found, `no ${section}.${method} among ${events.map(({ event }) => `${event.section}.${event.method}`)}`);
  return found.event;
}

/**
 * Passes `call` through a collective (`council` or `technicalCommittee`) of Alice, Bob and
 * Charlie: Alice proposes it with a threshold of two, Alice and Bob vote aye, Charlie closes
 * the motion, which executes the call. Returns the events of the closing block.
 */
export async function passMotion(api, collective, call, [alice, bob, charlie]) {
  const lengthBound = call.method.encodedLength;
  const proposed = await sendAndFinalize(api, api.tx[collective].propose(2, call, lengthBound), alice);
  const { proposalIndex, proposalHash } = eventOf(proposed.events, collective, 'Proposed').data;
  // Proposing is not voting: the proposer votes too.
  for (const member of [alice, bob]) {
    await sendAndFinalize(api, api.tx[collective].vote(proposalHash, proposalIndex, true), member);
  }
  // Generous for a democracy call, and well inside a block.
  const weightBound = { refTime: 50_000_000_000n, proofSize: 100_000n };
  const closed = await sendAndFinalize(
    api,
    api.tx[collective].close(proposalHash, proposalIndex, weightBound, lengthBound),
    charlie,
  );
  const executed = eventOf(closed.events, collective, 'Executed');
  assert.ok(executed.data.result.isOk, `${collective} motion failed: ${executed.data.result.toString()}`);
  return closed.events;
}

// The runtime's FAST_TRACK_VOTING_PERIOD, in blocks.
export const FAST_TRACK_VOTING_PERIOD = 5;

/**
 * Approves model `modelId` the way token holders do: the council tables
 * `models.approveModel` as the next external referendum, the technical committee fast-tracks
 * it, and `voter` votes aye with 1,000 TRIB. Resolves once the model is `Approved`.
 */
export async function approveByReferendum(api, modelId, members, voter) {
  const approve = api.tx.models.approveModel(modelId);
  await passMotion(
    api,
    'council',
    api.tx.democracy.externalProposeMajority({ Inline: approve.method.toHex() }),
    members,
  );
  const fastTracked = await passMotion(
    api,
    'technicalCommittee',
    api.tx.democracy.fastTrack(approve.method.hash, FAST_TRACK_VOTING_PERIOD, 1),
    members,
  );
  const refIndex = eventOf(fastTracked, 'democracy', 'Started').data.refIndex.toNumber();
  const vote = { Standard: { vote: { aye: true, conviction: 'Locked1x' }, balance: 1000n * 10n ** 12n } };
  await sendAndFinalize(api, api.tx.democracy.vote(refIndex, vote), voter);
  const status = async () => (await api.call.modelsApi.model(modelId)).unwrap().status.toString();
  await waitFor(async () => (await status()) === 'Approved', 60_000, 'the referendum to approve the model');
  return refIndex;
}

export function removeDir(dir) {
  rmSync(dir, { recursive: true, force: true });
}

export { here };
