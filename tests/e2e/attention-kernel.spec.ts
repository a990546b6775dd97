// The fused attention (src/engine/kernels/attention.ts) against the composed ops it replaces: the checks of
// tests/matrix/attention-checks.ts, one test per check, in one page of Debian's Chromium on WebGPU (SwiftShader here:
// correct and slow, so the shapes are small). Each test logs what it measured (largest differences, dispatch counts).
import { ATTENTION_CHECK_NAMES } from '../matrix/attention-check-names.ts';
import { describeMatrixPage } from './matrix-page.ts';

describeMatrixPage({ title: 'fused attention on webgpu', html: 'attention.html', api: '__attention', checks: ATTENTION_CHECK_NAMES });
