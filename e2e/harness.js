// Starts a real `tributary-node --dev` on free ports, connects @polkadot/api to it, and stops
// it afterwards. The binary is $TRIBUTARY_NODE, or the release build in $CARGO_TARGET_DIR.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

import { ApiPromise, WsProvider } from '@polkadot/api';

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
    const args = [
      '--dev',
      ...(this.basePath ? ['--base-path', this.basePath] : ['--tmp']),
      '--rpc-port', String(this.rpcPort),
      '--port', String(await freePort()),
      '--prometheus-port', String(await freePort()),
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
        return ApiPromise.create({ provider: new WsProvider(this.endpoint), noInitWarn: true });
      }
      await sleep(250);
    }
    throw new Error(`no RPC at ${this.endpoint} within ${timeoutMs} ms:\n${this.log.join('')}`);
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

/** Signs and sends `tx`, resolving with the events of its block once it is finalized. */
export function sendAndFinalize(api, tx, signer) {
  return new Promise((resolve, reject) => {
    tx.signAndSend(signer, ({ status, events, dispatchError }) => {
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

export function removeDir(dir) {
  rmSync(dir, { recursive: true, force: true });
}

export { here };
