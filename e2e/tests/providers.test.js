// GPU providers as they use the chain from polkadot.js: register with a bond, serve the sample
// model, unbond, and see the unlocking chunk through the runtime API and the node's RPC.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { Keyring } from '@polkadot/keyring';
import { cryptoWaitReady } from '@polkadot/util-crypto';

import { DevNode, eventOf, sendAndFinalize, waitFor } from '../harness.js';

const TRIB = 10n ** 12n;

describe('providers', () => {
  let node;
  let api;
  let alice;
  let bob;
  let eve;

  before(async () => {
    await cryptoWaitReady();
    node = await new DevNode().start();
    api = node.api;
    const keyring = new Keyring({ type: 'sr25519' });
    [alice, bob, eve] = ['//Alice', '//Bob', '//Eve'].map((uri) => keyring.addFromUri(uri));
  });

  after(async () => {
    await node?.stop();
  });

  it('the development chain starts with Alice serving the sample model', async () => {
    const { record, status } = (await api.call.providersApi.provider(alice.address)).unwrap();
    assert.equal(record.operator.toString(), alice.address);
    assert.deepEqual(record.served.toJSON(), [0]);
    assert.equal(status.toString(), 'Online');
  });

  it('a provider registers, serves the sample model, unbonds and sees its unlocking chunk', async () => {
    const spec = { gpuModel: 'NVIDIA L4', vramGib: 24, gpuCount: 2, region: 'eu-west', endpoint: null };
    const bond = 2_000n * TRIB;
    const registered = await sendAndFinalize(api, api.tx.providers.register(spec, eve.address, bond), bob);
    assert.equal(eventOf(registered.events, 'providers', 'Registered').data.operator.toString(), eve.address);
    await sendAndFinalize(api, api.tx.providers.serve(0), bob);

    const serving = (await api.call.providersApi.providersServing(0, 0, 100)).map(([who]) => who.toString());
    assert.deepEqual(serving, [alice.address, bob.address]);
    let provider = (await api.call.providersApi.provider(bob.address)).unwrap();
    assert.equal(provider.record.bonded.toBigInt(), bond);
    assert.equal(provider.capacity.toNumber(), 2 * 4);
    const held = (await api.query.system.account(bob.address)).data.reserved.toBigInt();
    assert.ok(held >= bond, `held ${held}`);

    const unbonded = await sendAndFinalize(api, api.tx.providers.unbond(500n * TRIB), bob);
    const { unlockAt } = eventOf(unbonded.events, 'providers', 'Unbonding').data;
    provider = (await api.call.providersApi.provider(bob.address)).unwrap();
    assert.equal(provider.record.bonded.toBigInt(), bond - 500n * TRIB);
    assert.deepEqual(
      provider.record.unlocking.map((chunk) => [chunk.value.toBigInt(), chunk.unlockAt.toNumber()]),
      [[500n * TRIB, unlockAt.toNumber()]],
    );
    // The stake is still held while it unlocks, and cannot be withdrawn yet.
    assert.equal((await api.query.system.account(bob.address)).data.reserved.toBigInt(), held);
    await assert.rejects(
      sendAndFinalize(api, api.tx.providers.withdrawUnbonded(), bob),
      /providers\.NothingToWithdraw/,
    );

    // The same over the node's JSON-RPC methods, where the record's fields sit beside the
    // status and capacity.
    const rpc = (method, params) => api._rpcCore.provider.send(method, params);
    const overRpc = await rpc('providers_provider', [bob.address]);
    assert.equal(overRpc.status, 'Online');
    assert.equal(overRpc.unlocking.length, 1);
    assert.deepEqual(await rpc('providers_pendingSlashes', [bob.address]), []);
    const page = await rpc('providers_providersServing', [0, 1, 10]);
    assert.deepEqual(page.map(([who]) => who), [bob.address]);
  });

  it("the node's off-chain worker sends the dev operator's heartbeats, free", async () => {
    // Alice's provider registered at genesis, which counts as a heartbeat; the next is due
    // HeartbeatInterval (10) blocks later, and the node (holding Alice's operator key under
    // `--dev`) sends it by itself.
    const lastHeartbeat = async () => (await api.call.providersApi.provider(alice.address)).unwrap().record.lastHeartbeat.toNumber();
    await waitFor(async () => (await lastHeartbeat()) >= 10, 60_000, "the off-chain worker's heartbeat");
    const at = await api.rpc.chain.getBlockHash(await lastHeartbeat());
    const { block } = await api.rpc.chain.getBlock(at);
    const index = block.extrinsics.findIndex((xt) => xt.method.section === 'providers' && xt.method.method === 'heartbeat');
    assert.ok(index >= 0, 'a heartbeat extrinsic in the block that recorded it');
    assert.equal(block.extrinsics[index].signer.toString(), alice.address);
    const events = await (await api.at(at)).query.system.events();
    const paid = events.find(({ event, phase }) => phase.isApplyExtrinsic && phase.asApplyExtrinsic.toNumber() === index
      && event.section === 'transactionPayment' && event.method === 'TransactionFeePaid');
    assert.equal(paid.event.data.actualFee.toBigInt(), 0n);
    // Another one at once is refused: too soon.
    await assert.rejects(
      sendAndFinalize(api, api.tx.providers.heartbeat(), alice),
      /providers\.HeartbeatTooSoon/,
    );
  });

  it('heartbeats from a non-operator are refused', async () => {
    await assert.rejects(
      sendAndFinalize(api, api.tx.providers.heartbeat(), bob),
      /providers\.NotOperator/,
    );
  });
});
