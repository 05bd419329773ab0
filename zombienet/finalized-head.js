// zombienet js-script: the head of parachain `args[0]` that the relay chain recorded in its
// finalized block. Prints the relay block and the parachain block it includes; returns the
// parachain block's number.
async function run(nodeName, networkInfo, args) {
  const { wsUri, userDefinedTypes } = networkInfo.nodesByName[nodeName];
  const api = await zombie.connect(wsUri, userDefinedTypes);
  try {
    const paraId = Number(args[0]);
    const finalized = await api.rpc.chain.getFinalizedHead();
    const relay = await api.rpc.chain.getHeader(finalized);
    const head = await (await api.at(finalized)).query.paras.heads(paraId);
    if (head.isNone) {
      throw new Error(`the relay chain holds no head of parachain ${paraId}`);
    }
    // The head data is the parachain's SCALE-encoded block header.
    const header = api.registry.createType("Header", head.unwrap().toU8a(true));
    console.log(
      `relay block #${relay.number.toNumber()} (${finalized.toHex()}), finalized, includes ` +
        `parachain ${paraId} block #${header.number.toNumber()} (${header.hash.toHex()})`,
    );
    return header.number.toNumber();
  } finally {
    await api.disconnect();
  }
}

module.exports = { run };
