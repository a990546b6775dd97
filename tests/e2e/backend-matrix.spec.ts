// The webgpu column of the engine's backend matrix: the core checks of tests/matrix/core-checks.ts (the same code the
// cpu and wasm columns run in tests/unit/backend-matrix.test.ts), one test per check, in one page of Debian's
// Chromium on WebGPU (SwiftShader here: slow, so the checks use tiny shapes; correctness, not speed).
import { CHECK_NAMES } from '../matrix/check-names.ts';
import { describeMatrixPage } from './matrix-page.ts';

describeMatrixPage({ title: 'webgpu', html: 'index.html', api: '__matrix', checks: CHECK_NAMES, started: (adapter) => `backend matrix: webgpu on ${adapter}` });
