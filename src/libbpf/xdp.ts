// XDP attach/detach/query on an interface, with atomic replace of an expected program.

import { check } from './call.ts';
import { XdpAttached, XdpFlag } from './constants.ts';
import { c, sizeOf, XdpAttachOpts, XdpQueryOpts } from './ffi.ts';

export type XdpMode = 'native' | 'generic';

export interface XdpAttachOptions {
  readonly mode: XdpMode;
  /**
   * fd of the program that must be attached now; the swap is atomic and fails
   * with EEXIST if another program is attached. Without it, attaching fails
   * with EBUSY when any program is attached.
   */
  readonly expectedOldFd?: number;
}

export interface XdpQueryResult {
  /** The attached program id, 0 when none (the native one when several modes are used). */
  readonly progId: number;
  readonly mode: XdpMode | 'none';
  readonly nativeProgId: number;
  readonly genericProgId: number;
}

function modeFlag(mode: XdpMode): number {
  return mode === 'native' ? XdpFlag.DRV_MODE : XdpFlag.SKB_MODE;
}

export function xdpAttach(ifindex: number, progFd: number, o: XdpAttachOptions): void {
  const replace = o.expectedOldFd !== undefined;
  const flags = modeFlag(o.mode) | (replace ? XdpFlag.REPLACE : XdpFlag.UPDATE_IF_NOEXIST);
  const opts = { sz: sizeOf(XdpAttachOpts), old_prog_fd: o.expectedOldFd ?? 0 };
  check('bpf_xdp_attach', () => c.xdpAttach(ifindex, progFd, flags, opts) as number, {
    replace,
    details: { ifindex, mode: o.mode },
  });
}

export function xdpDetach(ifindex: number, o: XdpAttachOptions): void {
  const replace = o.expectedOldFd !== undefined;
  const flags = modeFlag(o.mode) | (replace ? XdpFlag.REPLACE : 0);
  const opts = { sz: sizeOf(XdpAttachOpts), old_prog_fd: o.expectedOldFd ?? 0 };
  check('bpf_xdp_detach', () => c.xdpDetach(ifindex, flags, opts) as number, {
    replace,
    details: { ifindex, mode: o.mode },
  });
}

export function xdpQuery(ifindex: number): XdpQueryResult {
  const opts: Record<string, number | bigint> = { sz: sizeOf(XdpQueryOpts) };
  check('bpf_xdp_query', () => c.xdpQuery(ifindex, 0, opts) as number, { details: { ifindex } });
  const nativeProgId = Number(opts['drv_prog_id'] ?? 0);
  const genericProgId = Number(opts['skb_prog_id'] ?? 0);
  const attach = Number(opts['attach_mode'] ?? 0);
  let mode: XdpQueryResult['mode'] = 'none';
  if (attach === XdpAttached.DRV || (attach === XdpAttached.MULTI && nativeProgId !== 0)) mode = 'native';
  else if (attach === XdpAttached.SKB || attach === XdpAttached.MULTI) mode = 'generic';
  const progId = mode === 'native' ? nativeProgId : mode === 'generic' ? genericProgId : 0;
  return { progId, mode, nativeProgId, genericProgId };
}
