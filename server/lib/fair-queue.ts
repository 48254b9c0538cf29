/**
 * FairQueue holds items by owner and hands them out round robin across owners: one of each
 * owner's in turn, owners in the order of their names, starting after the owner served last;
 * each owner's own items in the order they came. An owner at its limit is passed over, its
 * items kept for later.
 */
export class FairQueue<T> {
  private readonly byOwner = new Map<string, T[]>();
  /** Owners with items, sorted. */
  private readonly owners: string[] = [];
  private count = 0;

  /** lastServed names the owner served before this queue's first turn, if any. */
  constructor(private lastServed?: string) {}

  /** The items waiting, all owners together. */
  get size(): number {
    return this.count;
  }

  /** The owner served last. */
  get last(): string | undefined {
    return this.lastServed;
  }

  /** push adds an item behind the owner's others. */
  push(owner: string, item: T): void {
    let items = this.byOwner.get(owner);
    if (items === undefined) {
      items = [];
      this.byOwner.set(owner, items);
      this.owners.splice(this.indexAfter(owner), 0, owner);
    }
    items.push(item);
    this.count++;
  }

  /** delete removes an item; false when it was not waiting. */
  delete(owner: string, item: T): boolean {
    const items = this.byOwner.get(owner);
    const index = items?.indexOf(item) ?? -1;
    if (items === undefined || index < 0) return false;
    items.splice(index, 1);
    this.count--;
    if (items.length === 0) this.forget(owner);
    return true;
  }

  /**
   * shift takes the next item in turn, of the first owner after the one served last that
   * `mayServe` lets be served; undefined when there is none.
   */
  shift(mayServe: (owner: string) => boolean = () => true): [string, T] | undefined {
    const start = this.lastServed === undefined ? 0 : this.indexAfter(this.lastServed);
    for (let step = 0; step < this.owners.length; step++) {
      const owner = this.owners[(start + step) % this.owners.length] as string;
      if (!mayServe(owner)) continue;
      const items = this.byOwner.get(owner) as T[];
      const item = items.shift() as T;
      this.count--;
      if (items.length === 0) this.forget(owner);
      this.lastServed = owner;
      return [owner, item];
    }
    return undefined;
  }

  private forget(owner: string): void {
    this.byOwner.delete(owner);
    this.owners.splice(this.owners.indexOf(owner), 1);
  }

  /** indexAfter is the index of the first owner whose name sorts after the given one. */
  private indexAfter(owner: string): number {
    let low = 0;
    let high = this.owners.length;
    while (low < high) {
      const middle = (low + high) >> 1;
      if ((this.owners[middle] as string) <= owner) low = middle + 1;
      else high = middle;
    }
    return low;
  }
}
