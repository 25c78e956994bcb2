// tc programs attached with tcx links (kernel >= 6.6): no qdisc to create,
// and the link is owned by this process's fd, so a program attached by an
// agent goes away with the agent instead of outliving it unmanaged.

import { check, closeFd } from './call.ts';
import { c } from './ffi.ts';

/** enum bpf_attach_type values (uapi linux/bpf.h). */
const BPF_TCX_INGRESS = 46;
const BPF_TCX_EGRESS = 47;

export type TcxDirection = 'ingress' | 'egress';

export interface TcxLink {
  readonly fd: number;
  /** Detaches the program (closing the link's last fd). */
  close(): void;
}

export function tcxAttach(ifindex: number, progFd: number, direction: TcxDirection): TcxLink {
  const type = direction === 'egress' ? BPF_TCX_EGRESS : BPF_TCX_INGRESS;
  const fd = check('bpf_link_create', () => c.linkCreate(progFd, ifindex, type, null) as number, { name: `tcx ${direction} of ifindex ${ifindex}` });
  let open = true;
  return {
    fd,
    close: () => {
      if (!open) return;
      open = false;
      closeFd(fd);
    },
  };
}
