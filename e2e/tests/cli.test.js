// The node's command line: help, chain specs, and what registering the parachain needs.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';

import { here, nodeBinary } from '../harness.js';

const specs = path.join(here, '..', 'chain-specs');

function run(...args) {
  // Chain specs carry the runtime's WASM: a few megabytes of JSON.
  return execFileSync(nodeBinary(), args, {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    maxBuffer: 64 * 1024 * 1024,
  });
}

describe('tributary-node', () => {
  it('documents its own flags in --help', () => {
    const help = run('--help');
    for (const flag of ['--dev-block-time', '--instant-seal', '--lora-service-url', '--lora-service-api-key-file', '--collator']) {
      assert.match(help, new RegExp(flag), `--help mentions ${flag}`);
    }
    for (const command of ['build-spec', 'export-genesis-head', 'export-genesis-wasm', 'purge-chain', 'key']) {
      assert.match(help, new RegExp(`\\b${command}\\b`), `--help lists ${command}`);
    }
  });

  it('refuses a LoRA service URL that is not http(s)', () => {
    assert.throws(
      () => run('--dev', '--tmp', '--lora-service-url', 'ftp://somewhere'),
      (error) => /not an http/.test(error.stderr),
    );
  });

  it('builds chain specs with the token and the parachain extension', () => {
    for (const chain of ['dev', 'local']) {
      const spec = JSON.parse(run('build-spec', '--chain', chain, '--disable-default-bootnode'));
      assert.equal(spec.properties.tokenSymbol, 'TRIB');
      assert.equal(spec.properties.tokenDecimals, 12);
      assert.equal(spec.properties.ss58Format, 42);
      assert.equal(spec.para_id, 2000);
      assert.equal(spec.relay_chain, 'rococo-local');
    }
  });

  it('exports the genesis head and WASM of the committed local spec', () => {
    const spec = path.join(specs, 'local-raw.json');
    const head = run('export-genesis-head', '--chain', spec).trim();
    // A SCALE-encoded header: parent hash (32 bytes), number (compact 0: one byte), state
    // root and extrinsics root (32 bytes each), and an empty digest (one byte).
    assert.match(head, /^0x[0-9a-f]{196}$/);
    assert.equal(head.slice(2, 66), '0'.repeat(64), 'genesis has no parent');
    assert.equal(head.slice(66, 68), '00', 'genesis is block 0');
    assert.notEqual(head.slice(68, 132), '0'.repeat(64), 'genesis has a state root');
    assert.equal(head.slice(196), '00', 'genesis has no digest');

    const wasm = run('export-genesis-wasm', '--chain', spec).trim();
    assert.match(wasm, /^0x[0-9a-f]+$/);
    const raw = JSON.parse(readFileSync(spec, 'utf8'));
    assert.equal(wasm, raw.genesis.raw.top['0x3a636f6465'], 'the WASM is the spec\'s :code');
  });
});
