// Offline signers (a Ledger, RFC-0078) sign against the runtime metadata's hash: with
// `CheckMetadataHash` in mode 1 the signed payload includes the hash the runtime was built with,
// so a transaction signed against any other metadata does not verify.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { merkleizeMetadata } from '@polkadot-api/merkleize-metadata';
import { Keyring } from '@polkadot/keyring';
import { u8aToHex } from '@polkadot/util';
import { cryptoWaitReady } from '@polkadot/util-crypto';

import { DevNode, eventOf, sendAndFinalize, waitFor } from '../harness.js';

const TRIB = 10n ** 12n;

describe('the metadata hash an offline signer signs', () => {
  let node;
  let api;
  let alice;
  let bob;
  let metadataHash;

  before(async () => {
    await cryptoWaitReady();
    node = await new DevNode().start();
    api = node.api;
    const keyring = new Keyring({ type: 'sr25519' });
    [alice, bob] = ['//Alice', '//Bob'].map((uri) => keyring.addFromUri(uri));

    // Option<OpaqueMetadata>: the inner bytes without their length prefix start with "meta".
    const metadata = (await api.call.metadata.metadataAtVersion(15)).unwrap().toU8a(true);
    assert.equal(u8aToHex(metadata.subarray(0, 5)), '0x6d6574610f', 'the "meta" magic, then version 15');
    // As the runtime's build computed it: `enable_metadata_hash("TRIB", 12)`.
    metadataHash = merkleizeMetadata(metadata, { decimals: 12, tokenSymbol: 'TRIB' }).digest();
  });

  after(async () => {
    await node?.stop();
  });

  it('is checked by a transaction extension after ChargeTransactionPayment', () => {
    // StorageWeightReclaim wraps the others and lists itself after them, with no data of its own.
    assert.deepEqual(
      api.registry.signedExtensions.slice(-3),
      ['ChargeTransactionPayment', 'CheckMetadataHash', 'StorageWeightReclaim'],
    );
  });

  it('lets a transfer signed with mode 1 and the right hash through', async () => {
    const amount = 3n * TRIB;
    const before = await freeBalance(bob.address);
    const tx = api.tx.balances.transferKeepAlive(bob.address, amount);
    const { blockHash, events } = await sendAndFinalize(api, tx, alice, {
      mode: 1,
      metadataHash: u8aToHex(metadataHash),
    }).catch((error) => {
      // CheckMetadataHash answers mode 1 so when the WASM has no hash built in.
      if (/CannotLookup/.test(error.message)) {
        throw new Error(`the runtime knows no metadata hash (built without RUNTIME_METADATA_HASH): ${error.message}`);
      }
      throw error;
    });
    eventOf(events, 'system', 'ExtrinsicSuccess');
    const transfer = eventOf(events, 'balances', 'Transfer');
    assert.equal(transfer.data.to.toString(), bob.address);
    assert.equal(transfer.data.amount.toBigInt(), amount);
    assert.equal(await freeBalance(bob.address), before + amount);
    // The block holds it as signed: with mode 1 (the hash itself is implicit, never sent).
    const included = await includedExtrinsic(blockHash, tx.hash.toHex());
    assert.equal(included.mode.toNumber(), 1);
  });

  it('refuses a transfer signed with mode 1 and a wrong hash', async () => {
    const wrongHash = metadataHash.slice();
    wrongHash[0] ^= 0xff;
    const before = await freeBalance(bob.address);
    const nonce = (await api.rpc.system.accountNextIndex(alice.address)).toNumber();
    await assert.rejects(
      sendAndFinalize(api, api.tx.balances.transferKeepAlive(bob.address, 7n * TRIB), alice, {
        mode: 1,
        metadataHash: u8aToHex(wrongHash),
      }),
      /1010: Invalid Transaction: Transaction has a bad signature/,
    );
    // Two more blocks, and still nothing arrived: the pool never took the transaction.
    const head = (await api.rpc.chain.getHeader()).number.toNumber();
    await waitFor(
      async () => (await api.rpc.chain.getHeader()).number.toNumber() >= head + 2,
      30_000,
      'two more blocks',
    );
    assert.equal(await freeBalance(bob.address), before);
    assert.equal((await api.rpc.system.accountNextIndex(alice.address)).toNumber(), nonce);
  });

  it('still lets a wallet that signs without the hash (mode 0) transfer', async () => {
    const amount = 2n * TRIB;
    const before = await freeBalance(bob.address);
    const tx = api.tx.balances.transferKeepAlive(bob.address, amount);
    const { blockHash, events } = await sendAndFinalize(api, tx, alice);
    eventOf(events, 'system', 'ExtrinsicSuccess');
    assert.equal(await freeBalance(bob.address), before + amount);
    const included = await includedExtrinsic(blockHash, tx.hash.toHex());
    assert.equal(included.mode.toNumber(), 0);
  });

  async function freeBalance(address) {
    return (await api.query.system.account(address)).data.free.toBigInt();
  }

  async function includedExtrinsic(blockHash, txHash) {
    const { block } = await api.rpc.chain.getBlock(blockHash);
    const found = block.extrinsics.find((extrinsic) => extrinsic.hash.toHex() === txHash);
    assert.ok(found, `${txHash} is in block ${blockHash.toHex()}`);
    return found;
  }
});
