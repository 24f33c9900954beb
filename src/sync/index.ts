// The gossip layer's public face: what the cluster, CLI and bench code import.
export { GossipNode, type GossipNodeOptions, type GossipStats, type MemberInfo, type Snapshot } from './gossip';
export { type Blend, applyBlend, peerWeight, checkSnapshot } from './averaging';
export { cpuNow, threadCpuClock } from './budget';
export { UdpTransport, freeUdpPorts, type UdpOptions } from './udp';
export { MemoryNetwork, MemoryTransport, type MemoryNetworkOptions } from './memory';
export { type Transport, type Datagram, datagramBytes, datagramLength, parsePeerList, splitAddress, joinAddress } from './transport';
export { loadKeyFile, generateKeyFile } from './crypto';
export { PRESETS, resolvePreset, type GossipPreset } from './config';
export { RealClock, VirtualClock, type Clock } from './clock';
export { Encoding } from './messages';
