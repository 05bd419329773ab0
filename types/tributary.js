// Tributary's JSON-RPC methods and the types they answer with, for @polkadot/api:
//
//   import { ApiPromise, WsProvider } from '@polkadot/api';
//   import { rpc, types } from './types/tributary.js';
//   const api = await ApiPromise.create({ provider: new WsProvider('ws://127.0.0.1:9944'), rpc, types });
//   const owed = await api.rpc.royalties.pending(address);
//   console.log(owed.total.toBigInt());
//
// The runtime APIs behind them (`api.call.datasetsApi`, `modelsApi`, `attributionApi`,
// `providersApi`, `royaltiesApi`, `inferenceApi`) need nothing: the runtime's metadata
// describes them. Methods whose answers are large records (datasets, models, providers) are
// typed `Json` here: their fields are the runtime API's, in camelCase.

const at = { name: 'at', type: 'Hash', isOptional: true };
const param = (name, type) => ({ name, type });

export const types = {
  TributaryCitedRecord: { datasetId: 'u32', contributionId: 'u32', scorePpm: 'u32', earned: 'Balance' },
  TributaryOutputRecord: { adapterId: 'u32', settledAt: 'BlockNumber', records: 'Vec<TributaryCitedRecord>' },
  TributaryContributionStats: { timesCited: 'u32', totalScorePpm: 'u64', totalEarned: 'Balance' },
  TributaryPendingRoyalties: { credits: 'Balance', pools: 'Vec<(u32, Balance)>', total: 'Balance', vesting: 'Balance' },
  TributaryPricing: { baseFee: 'Balance', per1kInputTokens: 'Balance', per1kOutputTokens: 'Balance' },
  TributaryInferenceRequest: {
    requester: 'AccountId',
    modelId: 'u32',
    adapterId: 'u32',
    adapterHash: 'H256',
    provider: 'AccountId',
    operator: 'AccountId',
    prompt: 'Bytes',
    maxTokens: 'u32',
    maxFee: 'Balance',
    pricing: 'TributaryPricing',
    deadline: 'BlockNumber',
  },
};

export const rpc = {
  datasets: {
    dataset: { description: 'A dataset, or null.', params: [param('datasetId', 'u32'), at], type: 'Json' },
    contribution: {
      description: 'A contribution, or null.',
      params: [param('datasetId', 'u32'), param('contributionId', 'u32'), at],
      type: 'Json',
    },
    contributionByHash: {
      description: "[contributionId, contribution] for a content hash in a dataset, or null.",
      params: [param('datasetId', 'u32'), param('contentHash', 'H256'), at],
      type: 'Json',
    },
    recordBytes: {
      description: "A record's bytes by its content hash, from the block body that indexed them, or null.",
      params: [param('contentHash', 'H256')],
      type: 'Option<Bytes>',
    },
    contributionsOf: {
      description: "A page of an account's contributions, after startAfter ([datasetId, contributionId]).",
      params: [param('contributor', 'AccountId'), param('startAfter', 'Option<(u32, u32)>'), param('limit', 'u32'), at],
      type: 'Json',
    },
    contributorWeight: {
      description: "An account's accepted weight in a dataset.",
      params: [param('datasetId', 'u32'), param('contributor', 'AccountId'), at],
      type: 'u64',
    },
  },
  models: {
    model: { description: 'A model, or null.', params: [param('modelId', 'u32'), at], type: 'Json' },
    models: {
      description: 'A page of [modelId, model] from start.',
      params: [param('start', 'u32'), param('limit', 'u32'), at],
      type: 'Json',
    },
    adapter: { description: 'An adapter, or null.', params: [param('adapterId', 'u32'), at], type: 'Json' },
    modelAdapters: {
      description: "[adapterId, adapter] for each of a model's adapters.",
      params: [param('modelId', 'u32'), at],
      type: 'Json',
    },
  },
  attribution: {
    lineage: {
      description: "An adapter's lineage: [{datasetId, share}], shares in parts per million.",
      params: [param('adapterId', 'u32'), at],
      type: 'Json',
    },
    adaptersTrainedOn: {
      description: 'A page of [adapterId, share] for the adapters trained on a dataset.',
      params: [param('datasetId', 'u32'), param('startAfter', 'Option<u32>'), param('limit', 'u32'), at],
      type: 'Vec<(u32, Permill)>',
    },
    forRequest: {
      description: "A settled request's attribution, from the chain or the node's off-chain index.",
      params: [param('requestId', 'u64'), at],
      type: 'Option<TributaryOutputRecord>',
    },
    contributionStats: {
      description: "A contribution's citations: times cited, scores summed, total earned.",
      params: [param('datasetId', 'u32'), param('contributionId', 'u32'), at],
      type: 'TributaryContributionStats',
    },
  },
  providers: {
    provider: { description: 'A provider with its status and capacity, or null.', params: [param('provider', 'AccountId'), at], type: 'Json' },
    providersServing: {
      description: 'A page of [account, provider] serving a model.',
      params: [param('modelId', 'u32'), param('start', 'u32'), param('limit', 'u32'), at],
      type: 'Json',
    },
    pendingSlashes: { description: 'The slashes pending against a provider.', params: [param('provider', 'AccountId'), at], type: 'Json' },
  },
  royalties: {
    pending: {
      description: 'What an account could claim: credits, dataset pool shares, and their total.',
      params: [param('who', 'AccountId'), at],
      type: 'TributaryPendingRoyalties',
    },
  },
  inference: {
    request: {
      description: 'An open inference request, or null once settled or expired.',
      params: [param('requestId', 'u64'), at],
      type: 'Option<TributaryInferenceRequest>',
    },
  },
};
