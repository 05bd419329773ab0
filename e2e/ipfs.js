// A real IPFS client: Helia, with only what fetching from one known peer needs (TCP, Noise,
// Yamux, Identify, Bitswap; no discovery, no routers, no gateways) and the blake2b-256 hasher
// that Tributary's record CIDs use. Helia checks every block it receives against its CID's
// hash before returning it.
import { withBitswap } from '@helia/bitswap';
import { withLibp2pLight } from '@helia/libp2p';
import { identify } from '@libp2p/identify';
import { noise } from '@libp2p/noise';
import { tcp } from '@libp2p/tcp';
import { yamux } from '@libp2p/yamux';
import { blake2b256 } from '@multiformats/blake2/blake2b';
import { multiaddr } from '@multiformats/multiaddr';
import { createHeliaLight } from 'helia';
import { CID } from 'multiformats/cid';
import * as Digest from 'multiformats/hashes/digest';

/** CIDv1, codec raw (0x55), multihash blake2b-256 (0xb220) of a record's content hash. */
export function cidOfContentHash(contentHashHex) {
  const digest = Buffer.from(contentHashHex.replace(/^0x/, ''), 'hex');
  return CID.createV1(0x55, Digest.create(blake2b256.code, digest));
}

/** Dials `peerAddress` and fetches the block `cid` (a string or a CID) over Bitswap. */
export async function fetchByCid(peerAddress, cid, timeoutMs = 30_000) {
  const helia = withBitswap(
    withLibp2pLight(createHeliaLight({ hashers: [blake2b256] }), {
      addresses: { listen: [] },
      transports: [tcp()],
      connectionEncrypters: [noise()],
      streamMuxers: [yamux()],
      services: { identify: identify() },
    }),
  );
  await helia.start();
  try {
    await helia.libp2p.dial(multiaddr(peerAddress));
    const wanted = typeof cid === 'string' ? CID.parse(cid) : cid;
    // A block comes back as a stream of chunks.
    const chunks = [];
    for await (const chunk of helia.blockstore.get(wanted, { signal: AbortSignal.timeout(timeoutMs) })) {
      chunks.push(chunk);
    }
    return new Uint8Array(Buffer.concat(chunks));
  } finally {
    await helia.stop();
  }
}
