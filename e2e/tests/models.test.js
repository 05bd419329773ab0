// Models as proposers and voters use them from polkadot.js: propose a model, approve it by a
// fast-tracked referendum (council external proposal, technical-committee fast-track, a token
// holder's vote, enactment), register an adapter and read its lineage back.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { Keyring } from '@polkadot/keyring';
import { stringToU8a } from '@polkadot/util';
import { blake2AsHex, cryptoWaitReady } from '@polkadot/util-crypto';

import { DevNode, approveByReferendum, eventOf, sendAndFinalize } from '../harness.js';

const TRIB = 10n ** 12n;

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

    // The council tables it as the next external referendum, the technical committee
    // fast-tracks it, and a token holder votes for it with their TRIB.
    const refIndex = await approveByReferendum(api, modelId, [alice, bob, charlie], dave);
    const status = async () => (await api.call.modelsApi.model(modelId)).unwrap().status.toString();
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
