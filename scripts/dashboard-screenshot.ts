/**
 * Takes the README's screenshot of the dashboard (docs/dashboard.png) with headless Chromium
 * (playwright-core, /usr/bin/chromium): start `npm run demo -- --follow`, then
 *
 *   node --import tsx scripts/dashboard-screenshot.ts <dashboard URL> [docs/dashboard.png]
 */
import { launchBrowser } from '../test/helpers/browser.js';

const [url, out = 'docs/dashboard.png'] = process.argv.slice(2);
if (!url) {
  console.error('usage: node --import tsx scripts/dashboard-screenshot.ts <dashboard URL> [out.png]');
  process.exit(2);
}
const browser = await launchBrowser({ width: 1280, height: 800 });
try {
  const page = await browser.context.newPage();
  await page.goto(url);
  await page.waitForSelector('#calendar button.cell');
  await page.waitForSelector('#sparklines svg');
  // The drill-down of the last finished hour with documents.
  const cells = page.locator('#calendar button.cell[data-state="ok"]');
  await cells.first().click();
  await page.waitForSelector('#manifest-parts');
  await page.screenshot({ path: out, fullPage: true });
  console.log(`wrote ${out}`);
} finally {
  await browser.close();
}
