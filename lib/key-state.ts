// SPDX-License-Identifier: MIT
/**
 * A `QSharedMemory`'s key: the legacy key, the native key, its QNativeIpcKey type and the
 * backend that speaks it. Every key check happens here, once, so backends receive a name that
 * is already valid for them.
 * @packageDocumentation
 */
import { QshmErrorCode, SharedMemoryError, argTypeError, qshmError, unsupportedKeyType, type QshmError } from './errors.js';
import type { Backend, KeyContext } from './backends/backend.js';
import { backendForKeyType, backendSpec, defaultBackend, makeBackend, type BackendName, type BackendOptions } from './backends/index.js';
import { QNativeIpcKey, makeKey } from './nativeipckey.js';

/** The key and backend of one `QSharedMemory`. @internal */
export class KeyState {
  readonly #options: BackendOptions;
  #backend: Backend;
  #name: BackendName;
  /** The legacy key (`setKey`), or the legacy key a QNativeIpcKey carried; `''` otherwise. */
  key = '';
  /** The native key as set or derived (before the backend resolves it). */
  nativeKey = '';
  /** The QNativeIpcKey type (0: a backend Qt has no type for). */
  type: number;
  /** Set when a QNativeIpcKey's type cannot be used here: create/attach then fail. */
  unsupported = false;

  /** Picks the backend: the options', or the one a QNativeIpcKey's type selects. Sets no key. */
  constructor(options: BackendOptions & { backend?: BackendName }, key?: string | QNativeIpcKey) {
    this.#options = options;
    let name = options.backend ?? defaultBackend;
    if (key instanceof QNativeIpcKey) {
      const wanted = backendForKeyType(key.type);
      if (wanted && options.backend !== undefined && options.backend !== wanted) {
        throw argTypeError('options.backend', `'${wanted}' (or omitted) for a key of type 0x${key.type.toString(16)}`, options.backend);
      }
      name = wanted ?? name;
    }
    this.#backend = makeBackend(name, options);
    this.#name = name;
    this.type = backendSpec(name).keyType;
  }

  get backend(): Backend {
    return this.#backend;
  }

  /** The backend's name in the table. */
  get backendName(): BackendName {
    return this.#name;
  }

  /**
   * `setKey`: derives the native key as Qt does. Returns false when nothing changes (the same
   * key again), true when the caller must detach first.
   */
  setLegacy(key: string): boolean {
    const nativeKey = this.#backend.nativeKeyFor(key);
    const type = backendSpec(this.#name).keyType;
    if (key === this.key && nativeKey === this.nativeKey && type === this.type && !this.unsupported) return false;
    this.key = key;
    this.nativeKey = nativeKey;
    this.type = type;
    this.unsupported = false;
    return true;
  }

  /**
   * `setNativeKey`: a string is used verbatim with the current backend; a QNativeIpcKey
   * switches to the backend of its type (as Qt 6.6+). Returns the KeyError to report when the
   * type cannot be used here, else null.
   */
  setNative(key: string | QNativeIpcKey): QshmError | null {
    this.unsupported = false;
    if (typeof key === 'string') {
      this.key = '';
      this.nativeKey = key;
      this.type = backendSpec(this.#name).keyType;
      return null;
    }
    const name = backendForKeyType(key.type);
    if (name === null) this.unsupported = true;
    else if (name !== this.#name) {
      this.#backend = makeBackend(name, this.#options);
      this.#name = name;
    }
    this.key = key.legacyKey;
    this.nativeKey = key.nativeKey;
    this.type = key.type;
    return this.unsupported ? unsupportedKeyType() : null;
  }

  /** The key as a QNativeIpcKey, or null for backends Qt has no key type for. */
  nativeIpcKey(): QNativeIpcKey | null {
    return this.type === 0 ? null : makeKey(this.nativeKey, this.type, this.key);
  }

  /** What a backend learns besides the name. */
  context(): KeyContext {
    return { legacyKey: this.key, type: this.type };
  }

  /**
   * The name to hand the backend for `fn` (`QSharedMemory::create`, …): checks that the key is
   * usable (a supported type, not empty unless the backend's key is optional, no NUL
   * character) and lets the backend resolve it (a file backend keeps it inside its
   * directory). Throws the KeyError {@link QshmError} otherwise.
   */
  name(fn: string, emptyKeyFn = fn): string {
    if (this.unsupported) throw unsupportedKeyType();
    const key = this.nativeKey;
    if (key === '') {
      if (backendSpec(this.#name).keyOptional) return key;
      throw qshmError(SharedMemoryError.KeyError, `${emptyKeyFn}: key is empty`, QshmErrorCode.EmptyKey);
    }
    if (key.includes('\0')) {
      throw qshmError(SharedMemoryError.KeyError, `${fn}: key contains a NUL character`, QshmErrorCode.BadKey, key);
    }
    return this.#backend.resolveNativeKey(key, fn);
  }
}
