/** Entry of the model panel's webview (bundled to dist/webview.js and dist/webview.css). */
import 'uplot/dist/uPlot.min.css';
import './styles.css';
import { PanelApp } from './app';
import { connect, onState } from './rpc';
import { onThemeChange } from './theme';

/** Registers the toolkit's web components; the package is ESM-only, hence the dynamic import. */
async function registerComponents(): Promise<void> {
  const toolkit = await import('@vscode/webview-ui-toolkit');
  toolkit.provideVSCodeDesignSystem().register(
    toolkit.vsCodeButton(),
    toolkit.vsCodeCheckbox(),
    toolkit.vsCodeDropdown(),
    toolkit.vsCodeOption(),
    toolkit.vsCodePanels(),
    toolkit.vsCodePanelTab(),
    toolkit.vsCodePanelView(),
    toolkit.vsCodeProgressRing(),
    toolkit.vsCodeRadio(),
    toolkit.vsCodeRadioGroup(),
    toolkit.vsCodeTextField(),
  );
}

void registerComponents().then(() => {
  const app = new PanelApp();
  app.mount(document.getElementById('app') as HTMLElement);
  onState((state) => app.setState(state));
  onThemeChange(() => app.themeChanged());
  connect();
});
