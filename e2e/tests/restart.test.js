// A node restarted on the same --base-path keeps its chain.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { Keyring } from '@polkadot/keyring';
import { cryptoWaitReady, mnemonicGenerate } from '@polkadot/util-crypto';

import { DevNode, removeDir, sendAndFinalize, tempDir } from '../harness.js';

describe('a restarted dev node', () => {
  let basePath;
  let node;

  before(async () => {
    await cryptoWaitReady();
    basePath = tempDir();
  });

  after(async () => {
    await node?.stop();
    removeDir(basePath);
  });

  it('keeps balances and block height across a restart', async () => {
    const keyring = new Keyring({ type: 'sr25519' });
    const alice = keyring.addFromUri('//Alice');
    const fresh = keyring.addFromMnemonic(mnemonicGenerate());
    const amount = 7n * 10n ** 12n;

    node = await new DevNode({ basePath }).start();
    const { blockHash } = await sendAndFinalize(
      node.api,
      node.api.tx.balances.transferKeepAlive(fresh.address, amount),
      alice,
    );
    const height = (await node.api.rpc.chain.getHeader(blockHash)).number.toNumber();
    const genesis = node.api.genesisHash.toHex();
    await node.stop();

    node = await new DevNode({ basePath }).start();
    assert.equal(node.api.genesisHash.toHex(), genesis, 'the same chain');
    const best = (await node.api.rpc.chain.getHeader()).number.toNumber();
    assert.ok(best >= height, `best block ${best} is at least the transfer's block ${height}`);
    const account = await node.api.query.system.account(fresh.address);
    assert.equal(account.data.free.toBigInt(), amount);
  });
});
