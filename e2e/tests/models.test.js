// Models as proposers and voters use them from polkadot.js: propose a model, approve it by a
// fast-tracked referendum (council external proposal, technical-committee fast-track, a token
// holder's vote, enactment), register an adapter and read its lineage back.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { Keyring } from '@polkadot/keyring';
import { stringToU8a } from '@polkadot/util';
import { blake2AsHex, cryptoWaitReady } from '@polkadot/util-crypto';

import { DevNode, sendAndFinalize, waitFor } from '../harness.js';

const TRIB = 10n ** 12n;
// The runtime's FAST_TRACK_VOTING_PERIOD, in blocks.
const FAST_TRACK_VOTING_PERIOD = 5;

function eventOf(events, section, method) {
  const found = events.find(({ event }) => event.section === section && event.method === method);
  assert.ok(found, `no ${section}.${method} among ${events.map(({ event }) => `${event.section}.${event.method}`)}`);
  return found.event;
}

/**
 * Passes `call` through a collective (`council` or `technicalCommittee`) of Alice, Bob and
 * Charlie: Alice proposes it with a threshold of two, Alice and Bob vote aye, Charlie closes
 * the motion, which executes the call. Returns the events of the closing block.
 */
async function passMotion(api, collective, call, [alice, bob, charlie]) {
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

describe('models', () => {
  let node;
  let api;
  let alice;
  let bob;
  let charlie;
  let dave;

  before(async () => {
    await cryptoWaitReady();
    node = await new DevNode().start();
    api = node.api;
    const keyring = new Keyring({ type: 'sr25519' });
    [alice, bob, charlie, dave] = ['//Alice', '//Bob', '//Charlie', '//Dave'].map((uri) => keyring.addFromUri(uri));
  });

  after(async () => {
    await node?.stop();
  });

  it('the development chain starts with a sample model over the sample dataset, active with its adapter', async () => {
    const model = (await api.call.modelsApi.model(0)).unwrap();
    assert.equal(model.status.toString(), 'Active');
    assert.equal(model.activeAdapter.unwrap().toNumber(), 0);
    assert.deepEqual(model.datasets.toJSON(), [0]);
    assert.equal(model.owner.toString(), alice.address);
    assert.equal(model.baseModel.toUtf8(), 'HuggingFaceTB/SmolLM2-135M-Instruct');
  });

  it('a proposal passes a fast-tracked referendum, then registers an adapter whose lineage reads back', async () => {
    const proposed = await sendAndFinalize(
      api,
      api.tx.models.proposeModel(
        'river-chat',
        'HuggingFaceTB/SmolLM2-135M-Instruct',
        blake2AsHex(stringToU8a('base model weights'), 256),
        [0],
        'ipfs://river-chat-spec',
        { baseFee: TRIB / 100n, per1kInputTokens: TRIB / 1000n, per1kOutputTokens: TRIB / 500n },
        { provider: 450_000, owner: 200_000, data: 300_000, treasury: 50_000 },
      ),
      bob,
    );
    const modelId = eventOf(proposed.events, 'models', 'ModelProposed').data.modelId.toNumber();
    assert.equal((await api.call.modelsApi.model(modelId)).unwrap().status.toString(), 'Proposed');

    // The council tables `models.approveModel(modelId)` as the next external referendum ...
    const approve = api.tx.models.approveModel(modelId);
    const members = [alice, bob, charlie];
    await passMotion(
      api,
      'council',
      api.tx.democracy.externalProposeMajority({ Inline: approve.method.toHex() }),
      members,
    );
    // ... the technical committee fast-tracks it, enacted one block after the vote ends ...
    const fastTracked = await passMotion(
      api,
      'technicalCommittee',
      api.tx.democracy.fastTrack(approve.method.hash, FAST_TRACK_VOTING_PERIOD, 1),
      members,
    );
    const refIndex = eventOf(fastTracked, 'democracy', 'Started').data.refIndex.toNumber();

    // ... and a token holder votes for it with their TRIB.
    const vote = { Standard: { vote: { aye: true, conviction: 'Locked1x' }, balance: 1000n * TRIB } };
    await sendAndFinalize(api, api.tx.democracy.vote(refIndex, vote), dave);

    const status = async () => (await api.call.modelsApi.model(modelId)).unwrap().status.toString();
    await waitFor(async () => (await status()) === 'Approved', 60_000, 'the referendum to approve the model');
    const referendum = await api.query.democracy.referendumInfoOf(refIndex);
    assert.ok(referendum.unwrap().isFinished && referendum.unwrap().asFinished.approved.isTrue);

    // The owner registers the first adapter: the model becomes Active.
    const artifactHash = blake2AsHex(stringToU8a('adapter_model.safetensors bytes'), 256);
    const registered = await sendAndFinalize(
      api,
      api.tx.models.registerAdapter(modelId, artifactHash, 16, 32, 'ipfs://river-chat-adapter', [[0, 1000]]),
      bob,
    );
    const adapterId = eventOf(registered.events, 'models', 'AdapterRegistered').data.adapterId.toNumber();
    eventOf(registered.events, 'models', 'ActiveAdapterSet');
    assert.equal(await status(), 'Active');
    const model = (await api.call.modelsApi.model(modelId)).unwrap();
    assert.equal(model.activeAdapter.unwrap().toNumber(), adapterId);
    const adapter = (await api.call.modelsApi.adapter(adapterId)).unwrap();
    assert.equal(adapter.artifactHash.toHex(), artifactHash);
    assert.equal(adapter.version.toNumber(), 1);

    // Its lineage, from the attribution ledger: all of it is dataset 0.
    const lineage = (await api.call.attributionApi.lineage(adapterId)).unwrap().toJSON();
    assert.deepEqual(lineage, [{ datasetId: 0, share: 1_000_000 }]);
    const trainedOn = (await api.call.attributionApi.adaptersTrainedOn(0, null, 100)).toJSON();
    assert.ok(trainedOn.some(([id, share]) => id === adapterId && share === 1_000_000));

    // The same answers over the node's JSON-RPC methods.
    const rpc = (method, params) => api._rpcCore.provider.send(method, params);
    assert.deepEqual(await rpc('attribution_lineage', [adapterId]), [{ datasetId: 0, share: 1_000_000 }]);
    assert.equal((await rpc('models_model', [modelId])).status, 'Active');
    const adapters = await rpc('models_modelAdapters', [modelId]);
    assert.deepEqual(adapters.map(([id]) => id), [adapterId]);
  });

  it('a refused proposal reports its error and holds nothing', async () => {
    const reserved = async () => (await api.query.system.account(charlie.address)).data.reserved.toBigInt();
    const before = await reserved();
    await assert.rejects(
      sendAndFinalize(
        api,
        api.tx.models.proposeModel(
          'greedy', 'base', blake2AsHex('x', 256), [0], '',
          { baseFee: 0, per1kInputTokens: 0, per1kOutputTokens: 0 },
          { provider: 700_000, owner: 250_000, data: 50_000, treasury: 0 },
        ),
        charlie,
      ),
      /models\.DataShareTooLow/,
    );
    await assert.rejects(
      sendAndFinalize(api, api.tx.models.approveModel(0), charlie),
      /badOrigin/i,
    );
    assert.equal(await reserved(), before);
  });
});
