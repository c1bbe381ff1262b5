// Element builders for the components. Text goes in as text nodes only: markup in a string stays characters.

/**
 * el('button', { type: 'button', className: 'secondary', onclick }, 'Retry'): properties are assigned (so
 * `onclick`, `hidden`, `textContent` work as on the element), except `dataset` and `attrs`, which are merged.
 */
export function el(tag, props = {}, ...children) {
  const element = document.createElement(tag);
  const { dataset, attrs, ...rest } = props;
  Object.assign(element, rest);
  Object.assign(element.dataset, dataset);
  for (const [name, value] of Object.entries(attrs ?? {})) {
    element.setAttribute(name, value);
  }

  element.append(...children.filter(child => child != null && child !== false));
  return element;
}

export const note = text => el('p', { className: 'note', textContent: text });

/** A closed (or open) disclosure holding a value as indented JSON, or as is when it is a string. */
export function details(summary, value, open = false) {
  const text = typeof value === 'string' ? value : JSON.stringify(value, null, 2);
  return el('details', { open }, el('summary', { textContent: summary }), el('pre', { textContent: text }));
}

/** Sets a text only when it differs, so an unchanged label is not rewritten (nor re-announced) on every render. */
export function setText(element, text) {
  if (element.textContent !== text) {
    element.textContent = text;
  }
}

/** Adds or removes an attribute; a value of null or false removes it. */
export function setAttr(element, name, value) {
  if (value == null || value === false) {
    element.removeAttribute(name);
  } else if (element.getAttribute(name) !== String(value)) {
    element.setAttribute(name, String(value));
  }
}

/**
 * A function that runs `render` once before the next paint however often it is called in between: views fed
 * one event at a time draw at most once a frame, and a history replayed at once draws once.
 */
export function oncePerFrame(render) {
  let pending = false;
  return () => {
    if (!pending) {
      pending = true;
      requestAnimationFrame(() => {
        pending = false;
        render();
      });
    }
  };
}
