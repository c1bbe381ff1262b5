// A list of views over immutable items: the reducer keeps an unchanged item's object identity, so comparing
// identities tells which views need work, and a streamed token touches one view, not the list.

/**
 * The children of `parent`, one view per item, keyed by `keyOf(item)`. A view is `{ element, update(item),
 * dispose?() }`; `create(item)` returns one already showing its item.
 */
export class KeyedList {
  #parent;
  #keyOf;
  #create;
  #entries = new Map(); // key -> { item, view }

  constructor(parent, { keyOf, create }) {
    this.#parent = parent;
    this.#keyOf = keyOf;
    this.#create = create;
  }

  /** Shows `items` in order. */
  render(items) {
    const elements = [];
    const keys = new Set();
    for (const item of items) {
      const key = this.#keyOf(item);
      keys.add(key);
      let entry = this.#entries.get(key);
      if (!entry) {
        entry = { item, view: this.#create(item) };
        this.#entries.set(key, entry);
      } else if (entry.item !== item) {
        entry.item = item;
        entry.view.update(item);
      }

      elements.push(entry.view.element);
    }

    for (const [key, entry] of this.#entries) {
      if (!keys.has(key)) {
        entry.view.dispose?.();
        entry.view.element.remove();
        this.#entries.delete(key);
      }
    }

    placeInOrder(this.#parent, elements);
  }

  /** The view of the item with this key, if it is shown. */
  viewOf(key) {
    return this.#entries.get(key)?.view;
  }

  dispose() {
    for (const { view } of this.#entries.values()) {
      view.dispose?.();
    }

    this.#entries.clear();
    this.#parent.replaceChildren();
  }
}

/**
 * Puts `elements` (all children of `parent`) in this order, moving as few as it can and never the one that holds
 * focus: a focused element taken out of the document, even to be put back at once, loses focus.
 */
function placeInOrder(parent, elements) {
  let cursor = parent.firstChild;
  for (const element of elements) {
    if (element === cursor) {
      cursor = cursor.nextSibling;
    } else if (element.parentNode === parent && element.contains(document.activeElement)) {
      // What stands between the cursor and it comes later in the order: move those to the end, and let the
      // rest of the walk put them in place.
      while (cursor !== element) {
        const next = cursor.nextSibling;
        parent.append(cursor);
        cursor = next;
      }

      cursor = element.nextSibling;
    } else {
      parent.insertBefore(element, cursor);
    }
  }
}
