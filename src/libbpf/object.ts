// BpfObject: an ELF object file opened and loaded by libbpf, with the
// before-load knobs the agent needs (map sizes, inner-map templates,
// reusing pinned maps) and owned handles to its maps and programs after load.

import { SterletError } from '../common/errors.ts';
import { check, checkPtr } from './call.ts';
import { c } from './ffi.ts';
import { BpfMap, type MapCreateOptions } from './map.ts';
import { BpfProgram } from './program.ts';

type Ptr = object;

/** Shape of an inner map, for ARRAY_OF_MAPS / HASH_OF_MAPS templates. */
export type InnerMapTemplate = Omit<MapCreateOptions, 'innerMapFd' | 'numaNode'>;

export class BpfObject {
  readonly path: string;
  #ptr: Ptr | null;
  #loaded = false;
  /** Template maps created for setInnerMap(); the kernel copies their shape at load. */
  readonly #templates: BpfMap[] = [];

  private constructor(path: string, ptr: Ptr) {
    this.path = path;
    this.#ptr = ptr;
  }

  static open(path: string): BpfObject {
    const ptr = checkPtr('bpf_object__open_file', () => c.objectOpenFile(path, null) as Ptr | null, { path });
    return new BpfObject(path, ptr);
  }

  get loaded(): boolean {
    return this.#loaded;
  }

  get closed(): boolean {
    return this.#ptr === null;
  }

  maps(): string[] {
    const names: string[] = [];
    for (let m = c.objectNextMap(this.#obj(), null) as Ptr | null; m !== null; m = c.objectNextMap(this.#obj(), m) as Ptr | null) {
      names.push(c.mapName(m) as string);
    }
    return names;
  }

  programs(): string[] {
    const names: string[] = [];
    for (let p = c.objectNextProgram(this.#obj(), null) as Ptr | null; p !== null; p = c.objectNextProgram(this.#obj(), p) as Ptr | null) {
      names.push(c.programName(p) as string);
    }
    return names;
  }

  map(name: string): ObjectMap {
    const ptr = c.objectFindMap(this.#obj(), name) as Ptr | null;
    if (ptr === null) throw notFound('map', name, this.path, this.maps());
    return new ObjectMap(this, name, ptr);
  }

  program(name: string): ObjectProgram {
    const ptr = c.objectFindProgram(this.#obj(), name) as Ptr | null;
    if (ptr === null) throw notFound('program', name, this.path, this.programs());
    return new ObjectProgram(this, name, ptr);
  }

  /** Create maps (or reuse pinned/reused fds) and load every autoload program. */
  load(): void {
    if (this.#loaded) throw new SterletError('BPF_OBJECT_STATE', `${this.path} is already loaded`, { fix: 'open the object again' });
    try {
      check('bpf_object__load', () => c.objectLoad(this.#obj()) as number, { path: this.path });
      this.#loaded = true;
    } finally {
      this.#closeTemplates();
    }
  }

  /** Frees libbpf's state and the object's own fds; pinned or attached objects stay alive. */
  close(): void {
    this.#closeTemplates();
    if (this.#ptr !== null) c.objectClose(this.#ptr);
    this.#ptr = null;
  }

  /** @internal keeps a template map open until load. */
  adoptTemplate(map: BpfMap): void {
    this.#templates.push(map);
  }

  #closeTemplates(): void {
    for (const t of this.#templates.splice(0)) t.close();
  }

  #obj(): Ptr {
    if (this.#ptr === null) throw new SterletError('BPF_OBJECT_STATE', `${this.path} is closed`, { fix: 'open the object again' });
    return this.#ptr;
  }
}

export class ObjectMap {
  readonly name: string;
  readonly #object: BpfObject;
  readonly #ptr: Ptr;

  constructor(object: BpfObject, name: string, ptr: Ptr) {
    this.#object = object;
    this.name = name;
    this.#ptr = ptr;
  }

  /** libbpf's pointer, only while the object is open (afterwards it is freed memory). */
  get #p(): Ptr {
    if (this.#object.closed) throw stateError('use', this.name, 'while the object is open');
    return this.#ptr;
  }

  get type(): number {
    return c.mapType(this.#p) as number;
  }
  get keySize(): number {
    return c.mapKeySize(this.#p) as number;
  }
  get valueSize(): number {
    return c.mapValueSize(this.#p) as number;
  }
  get maxEntries(): number {
    return c.mapMaxEntries(this.#p) as number;
  }
  get flags(): number {
    return c.mapFlags(this.#p) as number;
  }

  setMaxEntries(n: number): this {
    this.#beforeLoad('setMaxEntries');
    check('bpf_map__set_max_entries', () => c.mapSetMaxEntries(this.#p, n) as number, { name: this.name });
    return this;
  }

  setValueSize(n: number): this {
    this.#beforeLoad('setValueSize');
    check('bpf_map__set_value_size', () => c.mapSetValueSize(this.#p, n) as number, { name: this.name });
    return this;
  }

  setFlags(flags: number): this {
    this.#beforeLoad('setFlags');
    check('bpf_map__set_map_flags', () => c.mapSetFlags(this.#p, flags) as number, { name: this.name });
    return this;
  }

  /** Allocate the map on a NUMA node (libbpf adds BPF_F_NUMA_NODE). */
  setNumaNode(node: number): this {
    this.#beforeLoad('setNumaNode');
    check('bpf_map__set_numa_node', () => c.mapSetNumaNode(this.#p, node) as number, { name: this.name, numaNode: node });
    return this;
  }

  /**
   * Inner-map shape of a map-in-map: an existing map fd (kept open by the
   * caller until load) or a template the object creates and closes after load.
   */
  setInnerMap(inner: number | InnerMapTemplate): this {
    this.#beforeLoad('setInnerMap');
    let fd: number;
    if (typeof inner === 'number') {
      fd = inner;
    } else {
      const tmpl = BpfMap.create(inner);
      this.#object.adoptTemplate(tmpl);
      fd = tmpl.fd;
    }
    check('bpf_map__set_inner_map_fd', () => c.mapSetInnerMapFd(this.#p, fd) as number, { name: this.name });
    return this;
  }

  /** Use an existing map (e.g. adopted from a pin) instead of creating one; libbpf dups the fd. */
  reuseFd(fd: number): this {
    this.#beforeLoad('reuseFd');
    check('bpf_map__reuse_fd', () => c.mapReuseFd(this.#p, fd) as number, { name: this.name });
    return this;
  }

  /** At load: reuse the map pinned at `path` if compatible, else create and pin it there. */
  setPinPath(path: string): this {
    check('bpf_map__set_pin_path', () => c.mapSetPinPath(this.#p, path) as number, { name: this.name, path });
    return this;
  }

  /** Initial contents of a global-data map (.data/.rodata/.bss), exactly valueSize bytes. */
  setInitialValue(data: Buffer): this {
    this.#beforeLoad('setInitialValue');
    check('bpf_map__set_initial_value', () => c.mapSetInitialValue(this.#p, data, data.length) as number, {
      name: this.name,
      details: { size: data.length, valueSize: this.valueSize },
    });
    return this;
  }

  get pinned(): boolean {
    return c.mapIsPinned(this.#p) as boolean;
  }

  /** The map's fd, owned by the object (valid until object close). */
  get fd(): number {
    this.#afterLoad('fd');
    return check('bpf_map__fd', () => c.mapFd(this.#p) as number, { name: this.name });
  }

  /** An independent, owned handle that stays valid after the object closes. */
  asMap(): BpfMap {
    const borrowed = new BpfMap(this.fd, { owned: false });
    return BpfMap.fromId(borrowed.info().id);
  }

  #beforeLoad(op: string): void {
    if (this.#object.loaded) throw stateError(op, this.name, 'before load()');
  }
  #afterLoad(op: string): void {
    if (!this.#object.loaded) throw stateError(op, this.name, 'after load()');
  }
}

export class ObjectProgram {
  readonly name: string;
  readonly #object: BpfObject;
  readonly #ptr: Ptr;

  constructor(object: BpfObject, name: string, ptr: Ptr) {
    this.#object = object;
    this.name = name;
    this.#ptr = ptr;
  }

  /** libbpf's pointer, only while the object is open (afterwards it is freed memory). */
  get #p(): Ptr {
    if (this.#object.closed) throw stateError('use', this.name, 'while the object is open');
    return this.#ptr;
  }

  get type(): number {
    return c.programType(this.#p) as number;
  }

  setType(type: number): this {
    this.#beforeLoad('setType');
    check('bpf_program__set_type', () => c.programSetType(this.#p, type) as number, { name: this.name });
    return this;
  }

  setExpectedAttachType(type: number): this {
    this.#beforeLoad('setExpectedAttachType');
    check('bpf_program__set_expected_attach_type', () => c.programSetExpectedAttachType(this.#p, type) as number, { name: this.name });
    return this;
  }

  /** Skip loading this program (e.g. a benchmark-only entry point). */
  setAutoload(autoload: boolean): this {
    this.#beforeLoad('setAutoload');
    check('bpf_program__set_autoload', () => c.programSetAutoload(this.#p, autoload) as number, { name: this.name });
    return this;
  }

  /** The program's fd, owned by the object (valid until object close). */
  get fd(): number {
    if (!this.#object.loaded) throw stateError('fd', this.name, 'after load()');
    return check('bpf_program__fd', () => c.programFd(this.#p) as number, { name: this.name });
  }

  /** An independent, owned handle that stays valid after the object closes. */
  asProgram(): BpfProgram {
    const id = new BpfProgram(this.fd, { owned: false }).info().id;
    return BpfProgram.fromId(id);
  }

  #beforeLoad(op: string): void {
    if (this.#object.loaded) throw stateError(op, this.name, 'before load()');
  }
}

function stateError(op: string, name: string, when: string): SterletError {
  return new SterletError('BPF_OBJECT_STATE', `${op} on ${name} is only valid ${when}`, { fix: `call it ${when}` });
}

function notFound(kind: string, name: string, path: string, have: string[]): SterletError {
  return new SterletError('BPF_OBJECT_NO_SUCH_' + kind.toUpperCase(), `${path} has no ${kind} named ${name}`, {
    why: `it has: ${have.join(', ') || 'none'}`,
    fix: `rebuild the object (make bpf) or use one of the ${kind} names it has`,
  });
}
