// zombienet js-script: Alice creates an open dataset and contributes a record, its bytes on
// chain, through `nodeName`; waits until the collator `args[0]` has the contribution in its
// finalized state and serves the record's bytes by their hash (`datasets_recordBytes`), which
// it can only have from a block the relay chain validated with the record indexed. Returns 1
// when it does.
async function run(nodeName, networkInfo, args) {
  const connect = (name) => {
    const { wsUri, userDefinedTypes } = networkInfo.nodesByName[name];
    return zombie.connect(wsUri, userDefinedTypes);
  };
  const sender = await connect(nodeName);
  const observer = await connect(args[0]);
  const send = (tx, signer) =>
    new Promise((resolve, reject) => {
      tx.signAndSend(signer, ({ status, events, dispatchError }) => {
        if (dispatchError) {
          reject(new Error(`${tx.method.section}.${tx.method.method} failed: ${dispatchError.toString()}`));
        } else if (status.isInBlock) {
          resolve({ hash: status.asInBlock, events });
        } else if (status.isDropped || status.isInvalid || status.isUsurped) {
          reject(new Error(`${tx.method.section}.${tx.method.method} was not included: ${status.type}`));
        }
      }).catch(reject);
    });
  const eventData = (events, method) => {
    const found = events.find(({ event }) => event.section === "datasets" && event.method === method);
    if (!found) throw new Error(`no datasets.${method} event`);
    return found.event.data;
  };
  try {
    const keyring = new zombie.Keyring({ type: "sr25519" });
    const alice = keyring.addFromUri("//Alice");
    const created = await send(
      sender.tx.datasets.createDataset("zombienet", "", "CC0-1.0", "Open"),
      alice,
    );
    const datasetId = eventData(created.events, "DatasetCreated").datasetId.toNumber();
    const text = `A record contributed on the parachain at ${new Date().toISOString()}.`;
    const record = new Uint8Array(Buffer.from(text, "utf8"));
    const contributed = await send(sender.tx.datasets.contribute(datasetId, null, "0x" + Buffer.from(record).toString("hex")), alice);
    const submitted = eventData(contributed.events, "ContributionSubmitted");
    const contentHash = submitted.contentHash.toHex();
    const number = (await sender.rpc.chain.getHeader(contributed.hash)).number.toNumber();
    console.log(`record ${contentHash} (${record.length} bytes) in block #${number} on ${nodeName}`);
    const expected = `0x${Buffer.from(record).toString("hex")}`;
    for (;;) {
      const finalized = await observer.rpc.chain.getFinalizedHead();
      const at = await observer.at(finalized);
      const contribution = await at.query.datasets.contributions(datasetId, submitted.contributionId);
      if (contribution.isSome) {
        const bytes = await observer._rpcCore.provider.send("datasets_recordBytes", [contentHash]);
        if (bytes !== expected) {
          throw new Error(`${args[0]} serves ${bytes} for ${contentHash}, not the record`);
        }
        const height = (await observer.rpc.chain.getHeader(finalized)).number.toNumber();
        console.log(`${args[0]} has the record finalized at #${height} and serves its bytes`);
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
