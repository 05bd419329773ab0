// Paid inference end to end, against a real tributary-node --dev and a real tributary-lora
// serving SmolLM2 behind an admin token and an API key (the node's worker sends the key, its
// record sync the token): a dataset and a record contributed on chain (the node pushes it to
// the service by itself), a model voted in by referendum, an adapter with its lineage published
// on a web server (the service fetches it from its on-chain URI and checks its hash), a provider
// bonded and serving with its operator key in the node's keystore, a request, the node's
// off-chain worker's result with its attribution, credits equal to the split and claims that
// pay them once the result's challenge window closes. Then a second provider on a second node
// (following the first, sealing nothing, with a LoRA service of its own that nobody feeds by
// hand) serves a request assigned to it. With both serving, each provider's worker judges the
// other's results with its own service: an honest result audited and upheld, a forged
// attribution and a made-up output challenged and overturned. Then the first service stops,
// and a request expires with a full refund and a penalty for the provider.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { Keyring } from '@polkadot/keyring';
import { bnToU8a, stringToU8a, u8aConcat, u8aToHex } from '@polkadot/util';
import { blake2AsHex, cryptoWaitReady, xxhashAsHex } from '@polkadot/util-crypto';

import {
  DevNode,
  FileServer,
  LoraService,
  approveByReferendum,
  eventOf,
  sendAndFinalize,
  tempDir,
  removeDir,
  waitFor,
} from '../harness.js';

const TRIB = 10n ** 12n;
const MILLION = 1_000_000n;
// pallet-royalties' reward-per-weight scale.
const SCALE = 10n ** 12n;
const PRICING = { baseFee: TRIB / 100n, per1kInputTokens: TRIB / 1000n, per1kOutputTokens: TRIB / 500n };
const SPLIT = { provider: 450_000n, owner: 200_000n, data: 300_000n, treasury: 50_000n };
const PROMPT = 'Write one sentence about rivers.';
const MAX_TOKENS = 24;
// The runtime's storage parameter for the share of results audited (a Perbill).
const AUDIT_RATE_KEY = xxhashAsHex(':AuditRate:', 128);
// Blocks from a request to its result's vesting: the deadline (20), the challenge period (20)
// and the draw's delay (2).
const VESTS_AFTER = 42;

/** `amount × parts / 1,000,000`, rounded down (Permill::mul_floor). */
const part = (amount, parts) => (amount * parts) / MILLION;

/** The events of every block after `from` up to the best block, newest last. */
async function eventsSince(api, from) {
  const best = (await api.rpc.chain.getHeader()).number.toNumber();
  const all = [];
  for (let n = from + 1; n <= best; n += 1) {
    const hash = await api.rpc.chain.getBlockHash(n);
    const events = await (await api.at(hash)).query.system.events();
    all.push(...events.map(({ event, phase }) => ({ event, phase, blockNumber: n })));
  }
  return all;
}

async function waitForEvent(api, from, section, method, matches, timeoutMs) {
  let found;
  await waitFor(async () => {
    found = (await eventsSince(api, from)).find(
      ({ event }) => event.section === section && event.method === method && matches(event.data),
    );
    return Boolean(found);
  }, timeoutMs, `${section}.${method}`);
  return found;
}

const free = async (api, who) => (await api.query.system.account(who)).data.free.toBigInt();
const feePaid = (events, who) => events
  .filter(({ event }) => event.section === 'transactionPayment' && event.method === 'TransactionFeePaid'
    && event.data.who.toString() === who)
  .reduce((sum, { event }) => sum + event.data.actualFee.toBigInt(), 0n);

describe('inference', () => {
  let lora;
  let node;
  let loraB;
  let nodeB;
  let api;
  let rpc;
  let keys;
  let adapterDir;
  let adapterServer;
  const chain = {};

  before(async () => {
    await cryptoWaitReady();
    lora = await new LoraService({ tokens: true }).start();
    node = await new DevNode({
      extraArgs: [
        '--lora-service-url', lora.url,
        '--lora-service-api-key-file', lora.apiKeyFile,
        '--lora-service-admin-token-file', lora.adminTokenFile,
      ],
    }).start();
    api = node.api;
    rpc = (method, params) => api._rpcCore.provider.send(method, params);
    const keyring = new Keyring({ type: 'sr25519' });
    keys = Object.fromEntries(
      ['Alice', 'Bob', 'Charlie', 'Dave', 'Eve', 'Ferdie'].map((name) => [name.toLowerCase(), keyring.addFromUri(`//${name}`)]),
    );
    adapterDir = tempDir('tributary-e2e-adapter-');
  });

  after(async () => {
    await nodeB?.stop();
    await loraB?.stop();
    await node?.stop();
    await lora?.stop();
    await adapterServer?.stop();
    if (adapterDir) removeDir(adapterDir);
  });

  it("notes each block's relay-chain randomness, from which requests are drawn", async () => {
    // The validation inherent's relay state proof carries the relay block's BABE randomness
    // (made up by the dev node's mocked relay chain); the runtime notes it every block.
    const at = async (n) => (await api.at(await api.rpc.chain.getBlockHash(n))).query.inference.drawRandomness();
    let best = 0;
    await waitFor(async () => {
      best = (await api.rpc.chain.getHeader()).number.toNumber();
      return best >= 2;
    }, 30_000, 'two blocks');
    const [earlier, later] = [await at(best - 1), await at(best)];
    assert.ok(earlier.isSome && later.isSome, 'every block notes randomness');
    assert.notEqual(earlier.unwrap().toHex(), later.unwrap().toHex(), 'a new value each block');
  });

  it('sets up a dataset, a model voted in, an adapter with lineage and a serving provider', async () => {
    const { alice, bob, charlie, dave, eve, ferdie } = keys;
    // Dave curates an open dataset.
    const created = await sendAndFinalize(
      api, api.tx.datasets.createDataset('river notes', 'ipfs://river-notes', 'CC0-1.0', 'Open'), dave,
    );
    chain.datasetId = eventOf(created.events, 'datasets', 'DatasetCreated').data.datasetId.toNumber();

    // Bob proposes a model trained on it; token holders approve it by referendum.
    const proposed = await sendAndFinalize(
      api,
      api.tx.models.proposeModel(
        'river-writer', 'HuggingFaceTB/SmolLM2-135M-Instruct', blake2AsHex('SmolLM2 weights', 256),
        [chain.datasetId], 'ipfs://river-writer', PRICING,
        { provider: SPLIT.provider, owner: SPLIT.owner, data: SPLIT.data, treasury: SPLIT.treasury },
      ),
      bob,
    );
    chain.modelId = eventOf(proposed.events, 'models', 'ModelProposed').data.modelId.toNumber();
    await approveByReferendum(api, chain.modelId, [alice, bob, charlie], dave);

    // Bob registers a rank-4 adapter (random weights, written by tributary-lora) with its
    // lineage: all of it the dataset.
    // Its hash covers the weights, rank, alpha and targeted modules: what `adapter hash` says.
    const written = await LoraService.run(['adapter', 'new', '--rank', '4', '--alpha', '8', '--seed', '11', '--out', adapterDir]);
    chain.adapterHash = (await LoraService.run(['adapter', 'hash', adapterDir])).trim();
    assert.match(chain.adapterHash, /^0x[0-9a-f]{64}$/);
    assert.equal(written.trim(), chain.adapterHash);
    const weights = readFileSync(path.join(adapterDir, 'adapter_model.safetensors'));
    assert.notEqual(chain.adapterHash, blake2AsHex(weights, 256), 'not the weights file alone');
    // Bob publishes the adapter's files on a web server and registers their URI on chain;
    // nobody uploads the adapter to the provider's service.
    adapterServer = await new FileServer(adapterDir, 'river-writer-adapter').start();
    const registered = await sendAndFinalize(
      api,
      api.tx.models.registerAdapter(chain.modelId, chain.adapterHash, 4, 8, adapterServer.uri, [[chain.datasetId, 1]]),
      bob,
    );
    chain.adapterId = eventOf(registered.events, 'models', 'AdapterRegistered').data.adapterId.toNumber();
    assert.equal((await api.call.modelsApi.model(chain.modelId)).unwrap().status.toString(), 'Active');
    assert.equal((await lora.post('/v1/adapters', { id: 'x' }, lora.apiKey)).status, 401, 'the API key does not upload');

    // What the adapter answers the prompt (greedy, so the worker's answer will be the same):
    // Charlie contributes that text as a record, on chain only.
    // The probe names the adapter as the worker does: id, hash and URI. The service fetches
    // the adapter, checks its hash, and answers; another hash for the same URI is refused.
    const question = {
      model: String(chain.adapterId), prompt: PROMPT, max_tokens: MAX_TOKENS, temperature: 0,
      adapter_hash: chain.adapterHash, adapter_uri: adapterServer.uri,
    };
    assert.equal((await lora.post('/v1/completions', question, null)).status, 401, 'generation takes the key');
    const wrong = await lora.post('/v1/completions', { ...question, adapter_hash: blake2AsHex('another adapter', 256) });
    assert.equal(wrong.status, 409, JSON.stringify(wrong.body));
    assert.equal(wrong.body.error.code, 'adapter_hash_mismatch');
    const started = Date.now();
    const probe = await lora.post('/v1/completions', question);
    assert.equal(probe.status, 200, JSON.stringify(probe.body));
    chain.fetchMs = Date.now() - started;
    assert.equal(await lora.metric('adapter_fetches_total'), 1);
    // Forgotten again, so that the worker's own call must fetch it.
    const contentId = chain.adapterHash.slice(2);
    assert.equal((await lora.request('DELETE', `/v1/adapters/${contentId}`)).status, 200);
    chain.output = probe.body.choices[0].text;
    assert.ok(probe.body.usage.completion_tokens >= 8, `a short answer: ${JSON.stringify(chain.output)}`);
    const record = stringToU8a(chain.output);
    const contributed = await sendAndFinalize(
      api, api.tx.datasets.contribute(chain.datasetId, null, u8aToHex(record)), charlie,
    );
    const submitted = eventOf(contributed.events, 'datasets', 'ContributionSubmitted').data;
    assert.equal(submitted.status.toString(), 'Accepted');
    chain.contributionId = submitted.contributionId.toNumber();
    chain.recordHash = blake2AsHex(record, 256);
    // No provider serves the model yet: the node feeds its service nothing.
    assert.equal((await lora.records(chain.datasetId)).size, 0);

    // Eve bonds as a provider of the model with Ferdie as operator, whose key goes into the
    // node's keystore (what a provider does with `author_insertKey` on its own node).
    const spec = { gpuModel: 'NVIDIA L4', vramGib: 24, gpuCount: 1, region: 'eu-west', endpoint: null };
    await sendAndFinalize(api, api.tx.providers.register(spec, ferdie.address, 1_000n * TRIB), eve);
    await sendAndFinalize(api, api.tx.providers.serve(chain.modelId), eve);
    await rpc('author_insertKey', ['trib', '//Ferdie', u8aToHex(ferdie.publicKey)]);
    assert.equal(await rpc('author_hasKey', [u8aToHex(ferdie.publicKey), 'trib']), true);

    // Now Ferdie's provider serves a model trained on the dataset: the node pushes Charlie's
    // record to its service by itself, and the service checked it against its hash.
    const held = await lora.waitForRecord(chain.datasetId, chain.contributionId, 60_000);
    assert.equal(held.content_hash, chain.recordHash);
  });

  it("serves a paid request through the off-chain worker and pays the split to the planck", async () => {
    const { bob, charlie, dave, eve, ferdie } = keys;
    const maxFee = TRIB;
    const daveBefore = await free(api, dave.address);
    const requested = await sendAndFinalize(
      api, api.tx.inference.request(chain.modelId, PROMPT, MAX_TOKENS, maxFee), dave,
    );
    const assigned = eventOf(requested.events, 'inference', 'Requested').data;
    const requestId = assigned.requestId.toNumber();
    assert.equal(assigned.provider.toString(), eve.address);
    assert.equal(assigned.operator.toString(), ferdie.address);
    assert.equal(assigned.adapterId.toNumber(), chain.adapterId);
    const open = await rpc('inference_request', [requestId]);
    assert.equal(open.operator, ferdie.address);
    assert.equal(open.maxTokens, MAX_TOKENS);
    assert.equal(BigInt(open.pricing.per1kOutputTokens), PRICING.per1kOutputTokens, 'the request keeps its prices');
    const requestBlock = (await api.rpc.chain.getHeader(requested.blockHash)).number.toNumber();

    // The worker calls the service and submits the result, signed by Ferdie.
    const settled = await waitForEvent(
      api, requestBlock, 'inference', 'Settled', (data) => data.requestId.toNumber() === requestId, 90_000,
    );
    const { fee, refund, inputTokens, outputTokens, outputHash } = settled.event.data;
    assert.equal(outputHash.toHex(), blake2AsHex(stringToU8a(chain.output), 256), 'the output is the adapter\'s answer');
    // The worker named the adapter's URI: the service fetched it again, from Bob's server.
    assert.equal(await lora.metric('adapter_fetches_total'), 2);
    assert.equal(adapterServer.hits, 6, 'two files for each of the wrong hash, the probe and the worker');
    console.log(`# adapter fetched and checked in ${chain.fetchMs} ms with its first completion`);
    const expectedFee = [PRICING.baseFee + (PRICING.per1kInputTokens * inputTokens.toBigInt()) / 1000n
      + (PRICING.per1kOutputTokens * outputTokens.toBigInt()) / 1000n, maxFee].reduce((a, b) => (a < b ? a : b));
    assert.equal(fee.toBigInt(), expectedFee);
    assert.equal(refund.toBigInt(), maxFee - expectedFee);
    assert.equal(await rpc('inference_request', [requestId]), null);

    // The result is a claim until its challenge window closes: its fee stays held from Dave
    // and what it will credit shows as vesting, not claimable.
    assert.equal(settled.event.data.vestsAt.toNumber(), requestBlock + VESTS_AFTER);
    const vesting = await rpc('royalties_pending', [eve.address]);
    assert.equal(BigInt(vesting.credits), 0n);
    assert.equal(BigInt(vesting.vesting), part(fee.toBigInt(), SPLIT.provider));
    await waitForEvent(
      api, settled.blockNumber, 'inference', 'Paid', (data) => data.requestId.toNumber() === requestId, 120_000,
    );
    assert.equal(BigInt((await rpc('royalties_pending', [eve.address])).vesting), 0n);

    // The attribution names Charlie's record, the one the output reproduces.
    const attribution = await rpc('attribution_forRequest', [requestId]);
    assert.equal(attribution.adapterId, chain.adapterId);
    assert.equal(attribution.records.length, 1);
    const [cited] = attribution.records;
    assert.deepEqual(
      [cited.datasetId, cited.contributionId, cited.scorePpm],
      [chain.datasetId, chain.contributionId, 1_000_000],
    );
    const stats = await rpc('attribution_contributionStats', [chain.datasetId, chain.contributionId]);
    assert.equal(stats.timesCited, 1);
    assert.equal(stats.totalScorePpm, 1_000_000);

    // Anyone holding the model, the adapter and the records can check the result: the
    // service's /v1/verify finds the output on chain (the argument of the worker's
    // submitResult) greedy, and its counts and attribution as claimed, over the dataset as it
    // stood at settlement; a claim with another score is not.
    const settledHash = await api.rpc.chain.getBlockHash(settled.blockNumber);
    const { block } = await api.rpc.chain.getBlock(settledHash);
    const submitResult = block.extrinsics[settled.phase.asApplyExtrinsic.toNumber()];
    assert.equal(submitResult.method.method, 'submitResult');
    const stood = (await (await api.at(settledHash)).call.datasetsApi.dataset(chain.datasetId)).unwrap();
    const claim = {
      model: String(chain.adapterId),
      adapter_hash: chain.adapterHash,
      adapter_uri: adapterServer.uri,
      prompt: PROMPT,
      output_hex: submitResult.method.args[1].toHex(),
      max_tokens: MAX_TOKENS,
      max_output_bytes: api.consts.inference.maxOutputLength.toNumber(),
      prompt_tokens: inputTokens.toNumber(),
      completion_tokens: outputTokens.toNumber(),
      attribution: {
        datasets: [chain.datasetId],
        records: attribution.records.map((r) => (
          { dataset_id: r.datasetId, contribution_id: r.contributionId, score_ppm: r.scorePpm })),
        max_records: api.consts.inference.maxAttributions.toNumber(),
        as_of: [{ dataset_id: chain.datasetId, next_contribution_id: stood.nextContributionId.toNumber() }],
      },
    };
    const verdict = await lora.post('/v1/verify', claim);
    assert.equal(verdict.status, 200, JSON.stringify(verdict.body));
    assert.equal(verdict.body.verdict, 'valid', JSON.stringify(verdict.body));
    const halved = [{ ...claim.attribution.records[0], score_ppm: 500_000 }];
    const forged = await lora.post('/v1/verify', { ...claim, attribution: { ...claim.attribution, records: halved } });
    assert.deepEqual(forged.body.reasons.map((r) => r.code), ['attribution_differs'], JSON.stringify(forged.body));

    // The node's off-chain index holds the same record (what attribution_forRequest answers
    // from once the retention window has pruned it from the chain).
    const indexKey = u8aToHex(u8aConcat(
      stringToU8a('tributary/attribution/output/'), bnToU8a(requestId, { bitLength: 64, isLe: true }),
    ));
    const onChain = (await api.query.attribution.outputs(requestId)).unwrap().toHex();
    assert.equal(await rpc('offchain_localStorageGet', ['PERSISTENT', indexKey]), onChain);

    // The split: provider, owner, treasury by the model's shares; the data share half to the
    // cited record (all its score), half to the lineage's pool, where Charlie has all the weight.
    const feeValue = fee.toBigInt();
    const data = part(feeValue, SPLIT.data);
    const spanPart = data / 2n;
    const poolPart = data - spanPart;
    const weight = BigInt((await api.call.datasetsApi.dataset(chain.datasetId)).unwrap().totalWeight.toString());
    const poolShare = (((poolPart * SCALE) / weight) * weight) / SCALE;
    assert.equal(BigInt(cited.earned), spanPart);
    assert.equal(BigInt(stats.totalEarned), spanPart);
    const pending = async (who) => rpc('royalties_pending', [who.address]);
    // The same through @polkadot/api with types/tributary.js's definitions.
    const typed = await api.rpc.royalties.pending(charlie.address);
    assert.equal(typed.credits.toBigInt(), spanPart);
    assert.deepEqual(typed.pools.map(([id, amount]) => [id.toNumber(), amount.toBigInt()]), [[chain.datasetId, poolShare]]);
    const typedOutput = (await api.rpc.attribution.forRequest(requestId)).unwrap();
    assert.equal(typedOutput.records[0].earned.toBigInt(), spanPart);
    assert.ok((await api.rpc.inference.request(requestId)).isNone);
    const eveOwed = await pending(eve);
    assert.equal(BigInt(eveOwed.credits), part(feeValue, SPLIT.provider));
    assert.equal(BigInt((await pending(bob)).credits), part(feeValue, SPLIT.owner));
    const charlieOwed = await pending(charlie);
    assert.equal(BigInt(charlieOwed.credits), spanPart);
    assert.deepEqual(charlieOwed.pools.map(([id, amount]) => [id, BigInt(amount)]), [[chain.datasetId, poolShare]]);
    assert.equal(BigInt(charlieOwed.total), spanPart + poolShare);

    // Dave paid the fee, the request fee (to the treasury, not refunded) and the request's
    // transaction fee, nothing else.
    const requestFee = api.consts.inference.requestFee.toBigInt();
    assert.equal(daveBefore - (await free(api, dave.address)), feeValue + requestFee + feePaid(requested.events, dave.address));

    // Claims move balances by exactly what was owed (less each claim's own transaction fee).
    const eveBefore = await free(api, eve.address);
    const claimed = await sendAndFinalize(api, api.tx.royalties.claim(), eve);
    assert.equal((await free(api, eve.address)) - eveBefore, BigInt(eveOwed.credits) - feePaid(claimed.events, eve.address));
    const charlieBefore = await free(api, charlie.address);
    const fromCredits = await sendAndFinalize(api, api.tx.royalties.claim(), charlie);
    const fromPools = await sendAndFinalize(api, api.tx.royalties.claimFromDatasets([chain.datasetId]), charlie);
    const charlieFees = feePaid(fromCredits.events, charlie.address) + feePaid(fromPools.events, charlie.address);
    assert.equal((await free(api, charlie.address)) - charlieBefore, spanPart + poolShare - charlieFees);
    const after = await pending(charlie);
    assert.equal(BigInt(after.total), 0n);
  });

  it('a second provider on a second node syncs the records and serves a request by itself', async () => {
    const { bob, charlie, dave, eve } = keys;
    // Node B follows node A's chain (it seals nothing), with Bob's operator key (`--bob`) and
    // a LoRA service of its own that nobody uploads anything to, which takes records of at
    // most 1 KiB.
    loraB = await new LoraService({ tokens: true, extraArgs: ['--max-record-bytes', '1024'] }).start();
    nodeB = await new DevNode({
      extraArgs: [
        '--dev-follow', '--bob', '--bootnodes', await node.multiaddr(),
        '--lora-service-url', loraB.url,
        '--lora-service-api-key-file', loraB.apiKeyFile,
        '--lora-service-admin-token-file', loraB.adminTokenFile,
      ],
    }).start();
    const best = async (n) => (await n.api.rpc.chain.getHeader()).number.toNumber();
    await waitFor(async () => (await best(nodeB)) >= (await best(node)) - 1, 120_000, 'node B to sync');
    assert.equal((await nodeB.api.rpc.author.hasKey(u8aToHex(bob.publicKey), 'trib')).isTrue, true);

    // A 2 KiB record, which node B's service will refuse.
    const big = stringToU8a('0123456789abcdef'.repeat(128));
    const bigContributed = await sendAndFinalize(
      api, api.tx.datasets.contribute(chain.datasetId, null, u8aToHex(big)), charlie,
    );
    const bigId = eventOf(bigContributed.events, 'datasets', 'ContributionSubmitted').data.contributionId.toNumber();

    // Charlie bonds a provider of the model with Bob as operator; Eve stops serving it, so the
    // draw can only pick Charlie's provider, which only node B serves.
    const spec = { gpuModel: 'NVIDIA L4', vramGib: 24, gpuCount: 1, region: 'eu-central', endpoint: null };
    await sendAndFinalize(api, api.tx.providers.register(spec, bob.address, 1_000n * TRIB), charlie);
    await sendAndFinalize(api, api.tx.providers.serve(chain.modelId), charlie);
    await sendAndFinalize(api, api.tx.providers.stopServing(chain.modelId), eve);

    // Node B pushes Charlie's record to its own service, from its own copy of the blocks; the
    // record its service refuses holds up nothing, and is not offered again.
    const held = await loraB.waitForRecord(chain.datasetId, chain.contributionId, 60_000);
    assert.equal(held.content_hash, chain.recordHash);
    assert.equal((await loraB.records(chain.datasetId)).has(bigId), false);
    await waitFor(async () => (await nodeB.metric('tributary_record_sync_refused_total')) === 1, 30_000, 'the refusal counted');
    await sendAndFinalize(api, api.tx.datasets.withdrawContribution(chain.datasetId, bigId), charlie);
    // A record accepted now: the time from its acceptance (the block that holds it finalized
    // on node A) to its indexing by node B's service.
    const text = stringToU8a('Rivers carry the rain of many valleys to one sea.');
    const sent = Date.now();
    const contributed = await sendAndFinalize(
      api, api.tx.datasets.contribute(chain.datasetId, null, u8aToHex(text)), charlie,
    );
    const accepted = Date.now();
    const secondId = eventOf(contributed.events, 'datasets', 'ContributionSubmitted').data.contributionId.toNumber();
    const second = await loraB.waitForRecord(chain.datasetId, secondId, 60_000);
    const indexed = Date.now();
    console.log(`# a record sent at 0 ms, accepted in a block finalized on node A at ${accepted - sent} ms, `
      + `indexed by node B's service by ${indexed - sent} ms (${indexed - accepted} ms after A's finality)`);
    assert.equal(second.content_hash, blake2AsHex(text, 256));
    // Withdrawn on chain: removed from node B's service.
    await sendAndFinalize(api, api.tx.datasets.withdrawContribution(chain.datasetId, secondId), charlie);
    await waitFor(async () => !(await loraB.records(chain.datasetId)).has(secondId), 60_000, 'the withdrawn record gone from B');

    // A request goes to Charlie's provider; node B's worker serves it with its service and
    // sends the result (signed by Bob) to node A, which seals it.
    const requested = await sendAndFinalize(
      api, api.tx.inference.request(chain.modelId, PROMPT, MAX_TOKENS, TRIB), dave,
    );
    const assigned = eventOf(requested.events, 'inference', 'Requested').data;
    const requestId = assigned.requestId.toNumber();
    assert.equal(assigned.provider.toString(), charlie.address);
    assert.equal(assigned.operator.toString(), bob.address);
    const requestBlock = (await api.rpc.chain.getHeader(requested.blockHash)).number.toNumber();
    const settled = await waitForEvent(
      api, requestBlock, 'inference', 'Settled', (data) => data.requestId.toNumber() === requestId, 90_000,
    );
    assert.equal(settled.event.data.outputHash.toHex(), blake2AsHex(stringToU8a(chain.output), 256));
    assert.equal(await loraB.metric('adapter_fetches_total'), 1, "node B's service fetched the adapter itself");
    await waitForEvent(
      api, settled.blockNumber, 'inference', 'Paid', (data) => data.requestId.toNumber() === requestId, 120_000,
    );
    const attribution = await rpc('attribution_forRequest', [requestId]);
    assert.deepEqual(
      attribution.records.map((r) => [r.datasetId, r.contributionId, r.scorePpm]),
      [[chain.datasetId, chain.contributionId, 1_000_000]],
      'node B attributes the output to the record it synced',
    );

    // Node B's service restarted without its data: the node pushes the record again.
    await loraB.stop();
    await loraB.start();
    const again = await loraB.waitForRecord(chain.datasetId, chain.contributionId, 60_000);
    assert.equal(again.content_hash, chain.recordHash);

    // Eve serves again, beside Charlie. Node A's service never held the second record (no
    // provider of node A served the model while it was on chain); it holds the first.
    await sendAndFinalize(api, api.tx.providers.serve(chain.modelId), eve);
    assert.deepEqual([...(await lora.records(chain.datasetId)).keys()], [chain.contributionId]);
  });

  it("each provider's worker judges the others' results: an honest one upheld, forged ones overturned", async () => {
    const { alice, bob, charlie, dave, eve, ferdie } = keys;
    // A jury has at least two jurors (a majority of three), so a third provider joins: Grace's,
    // her own operator, her key in node B's keystore. Eve's provider (operator Ferdie) is
    // served by node A and its service, Charlie's (operator Bob) and Grace's by node B and its
    // own: a jury for a result of one is the other two.
    const grace = new Keyring({ type: 'sr25519' }).addFromUri('//Grace');
    await sendAndFinalize(api, api.tx.balances.transferKeepAlive(grace.address, 2_000n * TRIB), alice);
    const spec = { gpuModel: 'NVIDIA L4', vramGib: 24, gpuCount: 1, region: 'eu-north', endpoint: null };
    await sendAndFinalize(api, api.tx.providers.register(spec, grace.address, 1_000n * TRIB), grace);
    await nodeB.api.rpc.author.insertKey('trib', '//Grace', u8aToHex(grace.publicKey));
    await sendAndFinalize(api, api.tx.providers.serve(chain.modelId), grace);
    const side = {
      [eve.address]: { operator: ferdie },
      [charlie.address]: { operator: bob },
      [grace.address]: { operator: grace },
    };
    const others = (provider) => Object.keys(side).filter((p) => p !== provider).sort();
    const setAuditRate = (parts) => sendAndFinalize(api, api.tx.sudo.sudo(api.tx.system.setStorage(
      [[AUDIT_RATE_KEY, u8aToHex(bnToU8a(parts, { bitLength: 32, isLe: true }))]],
    )), alice);
    const request = async () => {
      const requested = await sendAndFinalize(
        api, api.tx.inference.request(chain.modelId, PROMPT, MAX_TOKENS, TRIB), dave,
      );
      const data = eventOf(requested.events, 'inference', 'Requested').data;
      const requestBlock = (await api.rpc.chain.getHeader(requested.blockHash)).number.toNumber();
      return { requestId: data.requestId.toNumber(), provider: data.provider.toString(), requestBlock, requested };
    };
    const event = (from, method, requestId, timeoutMs = 150_000) => waitForEvent(
      api, from, 'inference', method, (data) => data.requestId.toNumber() === requestId, timeoutMs,
    );
    const slashesScheduled = async (from, provider) => (await eventsSince(api, from))
      .filter(({ event: e }) => e.section === 'providers' && e.method === 'SlashScheduled'
        && e.data.provider.toString() === provider);

    // Every result audited (governance sets the storage parameter): an honest result, served by
    // its provider's worker, goes to the other two providers, whose workers check it with their
    // own services and find it valid. It is paid; nobody is slashed.
    await setAuditRate(1_000_000_000);
    const honest = await request();
    const settled = await event(honest.requestBlock, 'Settled', honest.requestId);
    const drawn = await event(honest.requestBlock, 'JuryDrawn', honest.requestId);
    assert.equal(drawn.event.data.audit.isTrue, true);
    assert.deepEqual(drawn.event.data.jurors.map(String).sort(), others(honest.provider));
    const upheld = await event(drawn.blockNumber - 1, 'Upheld', honest.requestId);
    assert.deepEqual(
      ['valid', 'wrong', 'missed'].map((k) => upheld.event.data[k].toNumber()), [2, 0, 0],
    );
    await event(drawn.blockNumber - 1, 'Paid', honest.requestId);
    assert.deepEqual(await slashesScheduled(honest.requestBlock, honest.provider), []);
    const { inputTokens, outputTokens, fee } = settled.event.data;
    await setAuditRate(0);

    // Two forgeries, each submitted by hand by the assigned provider's operator while the
    // services are down (so that the workers cannot answer first): the honest output with an
    // attribution to a record of Eve's own at a million parts, and an output the model never
    // wrote. Dave challenges both.
    const own = stringToU8a('Eve says every river runs to her mill, and pays her for it.');
    const contributed = await sendAndFinalize(
      api, api.tx.datasets.contribute(chain.datasetId, null, u8aToHex(own)), eve,
    );
    const ownId = eventOf(contributed.events, 'datasets', 'ContributionSubmitted').data.contributionId.toNumber();
    await lora.stop();
    await loraB.stop();
    const daveBefore = await free(api, dave.address);
    const forgeries = [
      { output: chain.output, tokens: [inputTokens, outputTokens], attribution: [[chain.datasetId, ownId, 1_000_000]] },
      { output: 'Rivers are made of green cheese, and the sea of crackers.', tokens: [inputTokens, 12], attribution: [] },
    ];
    const txFees = [];
    for (const forgery of forgeries) {
      Object.assign(forgery, await request());
      txFees.push(feePaid(forgery.requested.events, dave.address));
      const forged = await sendAndFinalize(api, api.tx.inference.submitResult(
        forgery.requestId, u8aToHex(stringToU8a(forgery.output)), ...forgery.tokens, forgery.attribution, false,
      ), side[forgery.provider].operator);
      forgery.fee = eventOf(forged.events, 'inference', 'Settled').data.fee.toBigInt();
      const challenged = await sendAndFinalize(api, api.tx.inference.challenge(forgery.requestId), dave);
      txFees.push(feePaid(challenged.events, dave.address));
    }
    await lora.start();
    await loraB.start();
    for (const forgery of forgeries) {
      const jury = await event(forgery.requestBlock, 'JuryDrawn', forgery.requestId);
      assert.equal(jury.event.data.audit.isFalse, true);
      assert.deepEqual(jury.event.data.jurors.map(String).sort(), others(forgery.provider));
      const overturned = await event(jury.blockNumber - 1, 'Overturned', forgery.requestId);
      assert.deepEqual(
        ['valid', 'wrong', 'missed'].map((k) => overturned.event.data[k].toNumber()), [0, 2, 0],
        forgery.output,
      );
      assert.equal(overturned.event.data.provider.toString(), forgery.provider);
      assert.equal(overturned.event.data.refund.toBigInt(), forgery.fee, 'the requester gets the fee back');
      assert.equal(overturned.event.data.slash.toBigInt(), 10n * TRIB + 40n * forgery.fee);
      const scheduled = (await slashesScheduled(overturned.blockNumber - 1, forgery.provider))
        .filter(({ blockNumber }) => blockNumber === overturned.blockNumber);
      assert.equal(scheduled.length, 1, 'the slash is scheduled with the verdict');
      // Nothing was credited or recorded.
      assert.equal(await rpc('attribution_forRequest', [forgery.requestId]), null);
    }
    for (const provider of Object.keys(side)) {
      assert.equal(BigInt((await rpc('royalties_pending', [provider])).vesting), 0n);
    }
    // Dave paid the request fees and his transactions' fees; the fees and the bonds came back.
    const requestFee = api.consts.inference.requestFee.toBigInt();
    assert.equal(
      daveBefore - (await free(api, dave.address)),
      2n * requestFee + txFees.reduce((a, b) => a + b, 0n),
    );
    const inferenceHolds = (await api.query.balances.holds(dave.address))
      .filter((hold) => 'inference' in hold.id.toJSON());
    assert.deepEqual(inferenceHolds.map((hold) => hold.amount.toBigInt()), [], 'no fee or bond is held');

    // Back to the default audit rate, and to Eve alone for what follows.
    await sendAndFinalize(api, api.tx.sudo.sudo(api.tx.system.killStorage([AUDIT_RATE_KEY])), alice);
    await sendAndFinalize(api, api.tx.providers.stopServing(chain.modelId), charlie);
    await sendAndFinalize(api, api.tx.providers.stopServing(chain.modelId), grace);
    await nodeB.stop();
    await loraB.stop();
  });

  it('a request the provider cannot serve expires with a full refund and a penalty', async () => {
    const { dave, eve } = keys;
    await lora.stop();
    const maxFee = TRIB;
    const daveBefore = await free(api, dave.address);
    // Eve may carry a slash already, for a forgery of the test before.
    const slashesBefore = (await rpc('providers_pendingSlashes', [eve.address])).length;
    const requested = await sendAndFinalize(
      api, api.tx.inference.request(chain.modelId, PROMPT, MAX_TOKENS, maxFee), dave,
    );
    const requestId = eventOf(requested.events, 'inference', 'Requested').data.requestId.toNumber();
    const requestBlock = (await api.rpc.chain.getHeader(requested.blockHash)).number.toNumber();
    const inferenceHolds = async () => (await api.query.balances.holds(dave.address))
      .filter((hold) => 'inference' in hold.id.toJSON())
      .map((hold) => hold.amount.toBigInt());
    assert.deepEqual(await inferenceHolds(), [maxFee], 'the cap is held while the request is open');
    // RequestTimeout is 20 blocks of 1 s on the dev chain.
    const expired = await waitForEvent(
      api, requestBlock, 'inference', 'Expired', (data) => data.requestId.toNumber() === requestId, 90_000,
    );
    assert.equal(expired.event.data.penalised.isTrue, true, 'the provider is penalised');
    // The cap comes back; the request fee does not.
    assert.equal(
      daveBefore - (await free(api, dave.address)),
      api.consts.inference.requestFee.toBigInt() + feePaid(requested.events, dave.address),
    );
    assert.deepEqual(await inferenceHolds(), [], 'the cap is released in full');
    const slashes = await rpc('providers_pendingSlashes', [eve.address]);
    assert.equal(slashes.length, slashesBefore + 1);
    assert.equal(await rpc('inference_request', [requestId]), null);
  });
});
