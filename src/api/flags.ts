// Per-VIP dataplane choices, shared by the VirtualIP spec and the compiled
// desired state (kept apart from both so neither imports the other).
import { z } from 'zod';

export const Encapsulation = z.enum(['IPIP', 'GUE']);
export type Encapsulation = z.infer<typeof Encapsulation>;
export const HashMode = z.enum(['FiveTuple', 'SourceAddress', 'DestinationPort']);
export type HashMode = z.infer<typeof HashMode>;
export const ConnectionTracking = z.enum(['Enabled', 'Disabled']);
export type ConnectionTracking = z.infer<typeof ConnectionTracking>;
export const Family = z.enum(['IPv4', 'IPv6']);
