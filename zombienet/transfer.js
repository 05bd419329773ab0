// zombienet js-script: Alice sends 1 TRIB to a new account through `nodeName`; once the
// transfer is in a block there, waits until the collator `args[0]` holds that balance in its
// finalized state. Returns 1 when it does.
const TRIB = 10n ** 12n;

async function run(nodeName, networkInfo, args) {
  const connect = (name) => {
    const { wsUri, userDefinedTypes } = networkInfo.nodesByName[name];
    return zombie.connect(wsUri, userDefinedTypes);
  };
  const sender = await connect(nodeName);
  const observer = await connect(args[0]);
  try {
    const keyring = new zombie.Keyring({ type: "sr25519" });
    const alice = keyring.addFromUri("//Alice");
    const dest = keyring.addFromUri(`//Zombienet//${Date.now()}`);
    const inBlock = await new Promise((resolve, reject) => {
      sender.tx.balances
        .transferKeepAlive(dest.address, TRIB)
        .signAndSend(alice, ({ status, dispatchError }) => {
          if (dispatchError) {
            reject(new Error(`the transfer failed: ${dispatchError.toString()}`));
          } else if (status.isInBlock) {
            resolve(status.asInBlock);
          } else if (status.isDropped || status.isInvalid || status.isUsurped) {
            reject(new Error(`the transfer was not included: ${status.type}`));
          }
        })
        .catch(reject);
    });
    const number = (await sender.rpc.chain.getHeader(inBlock)).number.toNumber();
    console.log(`transfer to ${dest.address} in block #${number} (${inBlock.toHex()}) on ${nodeName}`);
    for (;;) {
      const finalized = await observer.rpc.chain.getFinalizedHead();
      const account = await (await observer.at(finalized)).query.system.account(dest.address);
      if (account.data.free.toBigInt() === TRIB) {
        const at = (await observer.rpc.chain.getHeader(finalized)).number.toNumber();
        console.log(`${args[0]} holds the 1 TRIB in its finalized block #${at}`);
        return 1;
      }
      await new Promise((resolve) => setTimeout(resolve, 2000));
    }
  } finally {
    await sender.disconnect();
    await observer.disconnect();
  }
}

module.exports = { run };
