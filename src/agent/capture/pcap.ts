// pcap (libpcap classic format, microsecond timestamps, Ethernet) encoding:
// what tcpdump -r and Wireshark read. Pure byte layouts.

const MAGIC_US = 0xa1b2c3d4;
const LINKTYPE_ETHERNET = 1;

/** The 24-byte file header. */
export function pcapFileHeader(snaplen: number): Buffer {
  const b = Buffer.alloc(24);
  b.writeUInt32LE(MAGIC_US, 0);
  b.writeUInt16LE(2, 4);
  b.writeUInt16LE(4, 6);
  b.writeInt32LE(0, 8); // thiszone
  b.writeUInt32LE(0, 12); // sigfigs
  b.writeUInt32LE(snaplen, 16);
  b.writeUInt32LE(LINKTYPE_ETHERNET, 20);
  return b;
}

/** One packet record: wall-clock time in ns since the epoch, the bytes kept, the frame's full length. */
export function pcapRecord(wallNs: bigint, data: Buffer, origLen: number): Buffer {
  const h = Buffer.alloc(16);
  h.writeUInt32LE(Number(wallNs / 1_000_000_000n), 0);
  h.writeUInt32LE(Number((wallNs % 1_000_000_000n) / 1000n), 4);
  h.writeUInt32LE(data.length, 8);
  h.writeUInt32LE(Math.max(origLen, data.length), 12);
  return Buffer.concat([h, data]);
}
