// `preset: 'kubecache'` resolves here. The preset itself is CommonJS so that
// every Jest version can require() it; this ES module only re-exports it.
import preset from './presets/jest.cjs';

export default preset;
