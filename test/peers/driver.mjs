// SPDX-License-Identifier: MIT
// Kept for imports of the former peer driver: it lives in the support module now (QtPeer).
export { QtPeer as Peer, ftokOf, missing, pythonFor, sysvKeyExists } from '../support/index.mjs';
