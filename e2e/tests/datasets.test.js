// Datasets as a curator and contributors use them from polkadot.js: create, contribute (the
// record's bytes on chain), accept, reject, read the weights back through the runtime API and the
// node's RPC, and read a record's bytes back by its hash over RPC and by its CID, over RPC and
// with an IPFS client (Helia).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { Keyring } from '@polkadot/keyring';
import { stringToU8a, u8aToHex } from '@polkadot/util';
import { blake2AsHex, cryptoWaitReady } from '@polkadot/util-crypto';

import { DevNode, eventOf, sendAndFinalize } from '../harness.js';
import { cidOfContentHash, fetchByCid } from '../ipfs.js';

describe('datasets', () => {
  let node;
  let api;
  let alice;
  let bob;
  let charlie;

  before(async () => {
    await cryptoWaitReady();
    node = await new DevNode().start();
    api = node.api;
    const keyring = new Keyring({ type: 'sr25519' });
    [alice, bob, charlie] = ['//Alice', '//Bob', '//Charlie'].map((uri) => keyring.addFromUri(uri));
  });

  after(async () => {
    await node?.stop();
  });

  it('the development chain starts with a sample curated dataset', async () => {
    const sample = (await api.call.datasetsApi.dataset(0)).unwrap();
    assert.equal(sample.policy.toString(), 'Curated');
    assert.ok(sample.totalWeight.toBigInt() > 0n);
    assert.equal(sample.curator.toString(), alice.address);
  });

  it('a curated dataset takes contributions from two accounts, accepts one and rejects one', async () => {
    const created = await sendAndFinalize(
      api,
      api.tx.datasets.createDataset('e2e corpus', 'ipfs://e2e-corpus', 'CC-BY-4.0', 'Curated'),
      alice,
    );
    const datasetId = eventOf(created.events, 'datasets', 'DatasetCreated').data.datasetId.toNumber();

    const records = {
      bob: stringToU8a('Rivers carry sediment from the mountains to the sea.'),
      charlie: stringToU8a('A tributary is a stream that flows into a larger river.'),
    };
    const submitted = {};
    for (const [name, signer] of [['bob', bob], ['charlie', charlie]]) {
      const { events } = await sendAndFinalize(
        api,
        api.tx.datasets.contribute(datasetId, null, u8aToHex(records[name])),
        signer,
      );
      const event = eventOf(events, 'datasets', 'ContributionSubmitted');
      assert.equal(event.data.status.toString(), 'Pending');
      // The chain computed the hash and the length from the bytes.
      assert.equal(event.data.contentHash.toHex(), blake2AsHex(records[name], 256));
      assert.equal(event.data[event.data.names.indexOf('length')].toNumber(), records[name].length);
      submitted[name] = event.data.contributionId.toNumber();
    }

    await sendAndFinalize(api, api.tx.datasets.acceptContribution(datasetId, submitted.bob), alice);
    const { events } = await sendAndFinalize(
      api,
      api.tx.datasets.rejectContribution(datasetId, submitted.charlie),
      alice,
    );
    eventOf(events, 'datasets', 'ContributionRejected');

    // The runtime API, as polkadot.js apps' runtime-calls page would call it.
    const bobWeight = await api.call.datasetsApi.contributorWeight(datasetId, bob.address);
    const charlieWeight = await api.call.datasetsApi.contributorWeight(datasetId, charlie.address);
    assert.equal(bobWeight.toNumber(), records.bob.length);
    assert.equal(charlieWeight.toNumber(), 0);
    const dataset = (await api.call.datasetsApi.dataset(datasetId)).unwrap();
    assert.equal(dataset.totalWeight.toNumber(), records.bob.length);

    // A rejected contribution is deleted; its event is its record.
    assert.ok((await api.call.datasetsApi.contribution(datasetId, submitted.charlie)).isNone);
    const byHash = (await api.call.datasetsApi.contributionByHash(datasetId, blake2AsHex(records.bob, 256))).unwrap();
    assert.equal(byHash[0].toNumber(), submitted.bob);
    const page = await api.call.datasetsApi.contributionsOf(bob.address, null, 10);
    assert.ok(page.some(([d, c]) => d.toNumber() === datasetId && c.toNumber() === submitted.bob));

    // The same answers over the node's JSON-RPC methods.
    const rpc = (method, params) => api._rpcCore.provider.send(method, params);
    assert.equal(await rpc('datasets_contributorWeight', [datasetId, bob.address]), records.bob.length);
    assert.equal(await rpc('datasets_contributorWeight', [datasetId, charlie.address]), 0);
    const overRpc = await rpc('datasets_dataset', [datasetId]);
    assert.equal(overRpc.totalWeight, records.bob.length);
    assert.equal(overRpc.curator, alice.address);

    // The records' bytes, from the block bodies that indexed them: by hash over the node's RPC,
    // and by CID (CIDv1, raw, blake2b-256) over the standard Bitswap RPC. The rejected record's
    // bytes stay in its block too: rejection deletes the contribution, not the block.
    for (const name of ['bob', 'charlie']) {
      const hash = blake2AsHex(records[name], 256);
      assert.equal(await rpc('datasets_recordBytes', [hash]), u8aToHex(records[name]));
      assert.equal(await rpc('bitswap_v1_get', [cidOfContentHash(hash).toString()]), u8aToHex(records[name]));
    }
    // And as any IPFS client gets it: Helia dials the node's libp2p address and asks for the
    // CID over Bitswap, checking the block's blake2b-256 against the CID.
    const cid = cidOfContentHash(blake2AsHex(records.bob, 256));
    assert.deepEqual(await fetchByCid(await node.multiaddr(), cid), records.bob);
    assert.equal(await rpc('datasets_recordBytes', [blake2AsHex('never contributed', 256)]), null);
  });

  it('a refused contribution reports its error and changes nothing', async () => {
    const read = async () => (await api.call.datasetsApi.dataset(0)).unwrap().toJSON();
    const before = await read();
    const { free: bobFree, reserved: bobReserved } = (await api.query.system.account(bob.address)).data;
    await assert.rejects(
      sendAndFinalize(api, api.tx.datasets.contribute(0, null, "0x"), bob),
      /datasets\.EmptyRecord/,
    );
    assert.deepEqual(await read(), before);
    // Only the transaction fee was taken: nothing more is held.
    const after = (await api.query.system.account(bob.address)).data;
    assert.equal(after.reserved.toBigInt(), bobReserved.toBigInt());
    const fee = bobFree.toBigInt() - after.free.toBigInt();
    assert.ok(fee > 0n && fee < 10n ** 12n, `paid ${fee}, a fee and no deposit`);
  });
});
