// The dev chain as a user of polkadot.js sees it.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { Keyring } from '@polkadot/keyring';
import { u8aToString, hexToU8a, stringToHex } from '@polkadot/util';
import { cryptoWaitReady, mnemonicGenerate } from '@polkadot/util-crypto';

import { DevNode, sendAndFinalize, waitFor } from '../harness.js';

const TRIB = 10n ** 12n;

describe('a dev chain', () => {
  let node;
  let api;
  let alice;

  before(async () => {
    await cryptoWaitReady();
    node = await new DevNode({
      extraArgs: ['--lora-service-url', 'http://127.0.0.1:18181'],
    }).start();
    api = node.api;
    alice = new Keyring({ type: 'sr25519' }).addFromUri('//Alice');
  });

  after(async () => {
    await node?.stop();
  });

  it('produces and finalizes blocks', async () => {
    const first = await api.rpc.chain.getFinalizedHead();
    const firstNumber = (await api.rpc.chain.getHeader(first)).number.toNumber();
    await waitFor(async () => {
      const head = await api.rpc.chain.getFinalizedHead();
      return (await api.rpc.chain.getHeader(head)).number.toNumber() >= firstNumber + 3;
    }, 30_000, 'three more finalized blocks');
    const best = (await api.rpc.chain.getHeader()).number.toNumber();
    const finalized = (await api.rpc.chain.getHeader(await api.rpc.chain.getFinalizedHead()))
      .number.toNumber();
    // Every sealed block is finalized at once.
    assert.ok(best - finalized <= 1, `best ${best}, finalized ${finalized}`);
  });

  it('announces TRIB with 12 decimals and SS58 prefix 42', async () => {
    const properties = await api.rpc.system.properties();
    assert.deepEqual(properties.tokenSymbol.unwrap().toJSON(), ['TRIB']);
    assert.deepEqual(properties.tokenDecimals.unwrap().toJSON(), [12]);
    assert.equal(properties.ss58Format.unwrap().toNumber(), 42);
    assert.equal(api.registry.chainSS58, 42);
    assert.deepEqual(api.registry.chainTokens, ['TRIB']);
  });

  it('serves metadata at version 15', async () => {
    const versions = (await api.call.metadata.metadataVersions()).toJSON();
    assert.ok(versions.includes(15), `versions ${versions}`);
    const metadata = await api.call.metadata.metadataAtVersion(15);
    assert.ok(metadata.isSome);
    // OpaqueMetadata holds the magic "meta" followed by the version byte.
    const bytes = metadata.unwrap().toU8a(true);
    const start = findMagic(bytes);
    assert.ok(start >= 0 && start < 8, 'the metadata starts with the "meta" magic');
    assert.equal(bytes[start + 4], 15);
  });

  it('moves TRIB from Alice to a fresh account and reports the transfer', async () => {
    const fresh = new Keyring({ type: 'sr25519', ss58Format: 42 }).addFromMnemonic(mnemonicGenerate());
    const amount = 5n * TRIB;
    const { events } = await sendAndFinalize(
      api,
      api.tx.balances.transferKeepAlive(fresh.address, amount),
      alice,
    );
    const transfer = events.find(({ event }) => api.events.balances.Transfer.is(event));
    assert.ok(transfer, `a Balances.Transfer event among ${events.map(({ event }) => `${event.section}.${event.method}`)}`);
    const [from, to, value] = transfer.event.data;
    assert.equal(from.toString(), alice.address);
    assert.equal(to.toString(), fresh.address);
    assert.equal(value.toBigInt(), amount);
    const account = await api.query.system.account(fresh.address);
    assert.equal(account.data.free.toBigInt(), amount);
  });

  it('tells off-chain workers where the LoRA service is', async () => {
    const key = stringToHex('tributary::lora-service-url');
    const stored = await api.rpc.offchain.localStorageGet('PERSISTENT', key);
    assert.ok(stored.isSome, 'the node stored the URL');
    const url = api.createType('Bytes', hexToU8a(stored.unwrap().toHex()));
    assert.equal(u8aToString(url.toU8a(true)), 'http://127.0.0.1:18181');
  });
});

function findMagic(bytes) {
  for (let i = 0; i + 4 <= bytes.length; i += 1) {
    if (bytes[i] === 0x6d && bytes[i + 1] === 0x65 && bytes[i + 2] === 0x74 && bytes[i + 3] === 0x61) {
      return i;
    }
  }
  return -1;
}
