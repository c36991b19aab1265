/**
 * The DOM the React tests touch, typed here: the SDK compiles without the DOM library (so that
 * nothing in it leans on one), and a `/// <reference lib="dom" />` would bring it to every file.
 */
export interface TestElement {
  innerHTML: string;
  readonly textContent: string | null;
  append(child: TestElement): void;
  querySelector(selector: string): TestElement | null;
}

export interface TestDocument {
  readonly body: TestElement;
  createElement(tag: string): TestElement;
  getElementById(id: string): TestElement | null;
}

/** The global document (jsdom's), once a test environment has installed one. */
export function page(): TestDocument {
  return (globalThis as unknown as { document: TestDocument }).document;
}
