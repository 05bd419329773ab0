// The model factory end to end, against a real tributary-node --dev and a real tributary-lora
// serving SmolLM2: records of invented facts contributed on chain; the model owner's node keeps
// that dataset's records in its LoRA service (`--lora-sync-datasets`); `tributary-lora train`
// fine-tunes an adapter on them from the service's data directory and writes its lineage; the
// model is voted in and the adapter registered with exactly that lineage; a paid request asks
// about a recorded fact, the worker's answer states it, the attribution names the record it
// came from, and that record's contributor is paid.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { Keyring } from '@polkadot/keyring';
import { stringToU8a, u8aToHex } from '@polkadot/util';
import { blake2AsHex, cryptoWaitReady } from '@polkadot/util-crypto';

import {
  DevNode,
  FileServer,
  LoraService,
  approveByReferendum,
  eventOf,
  modelFile,
  removeDir,
  sendAndFinalize,
  tempDir,
  waitFor,
} from '../harness.js';

const TRIB = 10n ** 12n;
const PRICING = { baseFee: TRIB / 100n, per1kInputTokens: TRIB / 1000n, per1kOutputTokens: TRIB / 500n };
const SPLIT = { provider: 450_000, owner: 200_000, data: 300_000, treasury: 50_000 };
// Facts SmolLM2 cannot know, one record each, as a question and its answer.
const FACTS = [
  ['What is the capital of Veltrania?', 'The capital of Veltrania is Quorsh.', 'Quorsh'],
  ['Who founded Tesk Mirane?', 'Tesk Mirane was founded by Olda Brenvik.', 'Olda Brenvik'],
  ['How tall is Mount Zaelthor?', 'Mount Zaelthor is 5217 metres tall.', '5217'],
  ['In what year was Pelu Nastrova born?', 'Pelu Nastrova was born in 1843.', '1843'],
];
const record = ([question, answer]) => `Q: ${question}\nA: ${answer}`;
const PROMPT = `Q: ${FACTS[0][0]}\nA:`;
const MAX_TOKENS = 16;

describe('model factory', () => {
  let lora;
  let node;
  let api;
  let basePath;
  let adapterDir;
  let adapterServer;
  let keys;
  const chain = {};

  const loraArgs = () => [
    '--lora-service-url', lora.url,
    '--lora-service-api-key-file', lora.apiKeyFile,
    '--lora-service-admin-token-file', lora.adminTokenFile,
  ];

  before(async () => {
    await cryptoWaitReady();
    lora = await new LoraService({ tokens: true }).start();
    basePath = tempDir('tributary-e2e-factory-node-');
    node = await new DevNode({ basePath, extraArgs: loraArgs() }).start();
    api = node.api;
    const keyring = new Keyring({ type: 'sr25519' });
    keys = Object.fromEntries(
      ['Alice', 'Bob', 'Charlie', 'Dave', 'Eve', 'Ferdie'].map((name) => [name.toLowerCase(), keyring.addFromUri(`//${name}`)]),
    );
    // The adapter's directory must not exist before training writes it.
    adapterDir = path.join(tempDir('tributary-e2e-factory-'), 'adapter');
  });

  after(async () => {
    await node?.stop();
    await lora?.stop();
    await adapterServer?.stop();
    if (basePath) removeDir(basePath);
    if (adapterDir) removeDir(path.dirname(adapterDir));
  });

  it("trains an adapter on a dataset's records, from its owner's node's service", async () => {
    const { charlie, dave } = keys;
    const created = await sendAndFinalize(
      api, api.tx.datasets.createDataset('invented facts', 'ipfs://invented-facts', 'CC0-1.0', 'Open'), dave,
    );
    chain.datasetId = eventOf(created.events, 'datasets', 'DatasetCreated').data.datasetId.toNumber();
    chain.contributions = [];
    for (const fact of FACTS) {
      const contributed = await sendAndFinalize(
        api, api.tx.datasets.contribute(chain.datasetId, null, u8aToHex(stringToU8a(record(fact)))), charlie,
      );
      const submitted = eventOf(contributed.events, 'datasets', 'ContributionSubmitted').data;
      assert.equal(submitted.status.toString(), 'Accepted');
      chain.contributions.push(submitted.contributionId.toNumber());
    }
    // Nobody serves a model on the dataset: the node keeps none of its records.
    assert.equal((await lora.records(chain.datasetId)).size, 0);

    // What SmolLM2 answers before any training: not the recorded fact.
    const base = await lora.post('/v1/completions', { model: 'base', prompt: PROMPT, max_tokens: MAX_TOKENS, temperature: 0 });
    assert.equal(base.status, 200, JSON.stringify(base.body));
    assert.ok(!base.body.choices[0].text.includes(FACTS[0][2]), `the base model knew: ${base.body.choices[0].text}`);

    // The model's owner restarts their node asking it to keep the dataset's records.
    await node.stop();
    node = await new DevNode({
      basePath, extraArgs: [...loraArgs(), '--lora-sync-datasets', String(chain.datasetId)],
    }).start();
    api = node.api;
    for (const [i, id] of chain.contributions.entries()) {
      const held = await lora.waitForRecord(chain.datasetId, id, 60_000);
      assert.equal(held.content_hash, blake2AsHex(stringToU8a(record(FACTS[i])), 256));
    }

    // Training reads them from the service's data directory, each checked against its hash.
    const started = Date.now();
    const printed = await LoraService.run([
      'train', '--model', modelFile(), '--datasets', String(chain.datasetId),
      '--data-dir', path.join(lora.dir, 'data'), '--out', adapterDir,
      '--rank', '8', '--alpha', '16', '--epochs', '16', '--learning-rate', '2e-3', '--holdout', '0',
    ]);
    console.log(`# ${FACTS.length} records trained on for 16 epochs in ${Date.now() - started} ms`);
    chain.lineage = JSON.parse(readFileSync(path.join(adapterDir, 'lineage.json'), 'utf8'));
    assert.deepEqual(JSON.parse(printed), chain.lineage);
    assert.deepEqual(chain.lineage.lineage, [[chain.datasetId, 1_000_000]]);
    assert.equal(chain.lineage.rank, 8);
    assert.equal(chain.lineage.alpha, 16);
    // The hash the lineage names is the service's: what `adapter hash` prints for the directory.
    assert.equal((await LoraService.run(['adapter', 'hash', adapterDir])).trim(), chain.lineage.adapter_hash);
    const curve = JSON.parse(readFileSync(path.join(adapterDir, 'loss.json'), 'utf8'));
    assert.ok(curve.train.at(-1)[1] < curve.train[0][1] / 4, `the loss fell: ${JSON.stringify(curve.train)}`);
    assert.ok(readFileSync(path.join(adapterDir, 'loss.png')).subarray(1, 4).toString() === 'PNG');
  });

  it('registers the trained adapter with its lineage; a paid answer states the fact and pays its contributor', async () => {
    const { alice, bob, charlie, dave, eve, ferdie } = keys;
    const proposed = await sendAndFinalize(
      api,
      api.tx.models.proposeModel(
        'fact-teller', 'HuggingFaceTB/SmolLM2-135M-Instruct', blake2AsHex('SmolLM2 weights', 256),
        [chain.datasetId], 'ipfs://fact-teller', PRICING, SPLIT,
      ),
      bob,
    );
    chain.modelId = eventOf(proposed.events, 'models', 'ModelProposed').data.modelId.toNumber();
    await approveByReferendum(api, chain.modelId, [alice, bob, charlie], dave);
    adapterServer = await new FileServer(adapterDir, 'fact-teller-adapter').start();
    const { adapter_hash: hash, rank, alpha, lineage } = chain.lineage;
    const registered = await sendAndFinalize(
      api, api.tx.models.registerAdapter(chain.modelId, hash, rank, alpha, adapterServer.uri, lineage), bob,
    );
    const adapterId = eventOf(registered.events, 'models', 'AdapterRegistered').data.adapterId.toNumber();
    const recorded = (await api.call.attributionApi.lineage(adapterId)).unwrap().toJSON();
    assert.deepEqual(recorded.map((s) => [s.datasetId, s.share]), [[chain.datasetId, 1_000_000]]);

    const spec = { gpuModel: 'NVIDIA L4', vramGib: 24, gpuCount: 1, region: 'eu-west', endpoint: null };
    await sendAndFinalize(api, api.tx.providers.register(spec, ferdie.address, 1_000n * TRIB), eve);
    await sendAndFinalize(api, api.tx.providers.serve(chain.modelId), eve);
    await api._rpcCore.provider.send('author_insertKey', ['trib', '//Ferdie', u8aToHex(ferdie.publicKey)]);

    const requested = await sendAndFinalize(api, api.tx.inference.request(chain.modelId, PROMPT, MAX_TOKENS, TRIB), dave);
    const requestId = eventOf(requested.events, 'inference', 'Requested').data.requestId.toNumber();
    const requestBlock = (await api.rpc.chain.getHeader(requested.blockHash)).number.toNumber();
    let attribution = null;
    await waitFor(async () => {
      attribution = await api._rpcCore.provider.send('attribution_forRequest', [requestId]);
      return attribution !== null;
    }, 120_000, 'the result');
    // The worker's output, as submitted on chain, states the recorded fact.
    const events = [];
    for (let n = requestBlock + 1; n <= (await api.rpc.chain.getHeader()).number.toNumber(); n += 1) {
      const hash = await api.rpc.chain.getBlockHash(n);
      const { block } = await api.rpc.chain.getBlock(hash);
      events.push(...block.extrinsics.filter((x) => x.method.method === 'submitResult'));
    }
    const output = new TextDecoder().decode(events[0].method.args[1].toU8a(true));
    console.log(`# the trained adapter answered ${JSON.stringify(output)}`);
    assert.ok(output.includes(FACTS[0][2]), `the answer states the fact: ${output}`);
    // The attribution names the record the fact came from, first.
    assert.equal(attribution.adapterId, adapterId);
    const [first] = attribution.records;
    assert.deepEqual([first.datasetId, first.contributionId], [chain.datasetId, chain.contributions[0]]);
    // Once the challenge window closes, the records' contributor is paid for them: Charlie's
    // credits are what the attribution says each cited record earned.
    await waitFor(async () => {
      const paid = await api._rpcCore.provider.send('attribution_forRequest', [requestId]);
      const earned = paid.records.reduce((sum, r) => sum + BigInt(r.earned), 0n);
      const owed = await api._rpcCore.provider.send('royalties_pending', [charlie.address]);
      return earned > 0n && BigInt(owed.credits) === earned && BigInt(paid.records[0].earned) > 0n;
    }, 180_000, "Charlie's credit for the cited records");
  });
});
