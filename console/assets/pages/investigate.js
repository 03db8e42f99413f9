// pages/investigate.js — placeholder of the contract commit; its owner replaces it.
import { h, fill, t } from '../core.js';

export const messages = { en: { 'investigate.title': 'investigate' }, nb: { 'investigate.title': 'investigate' } };

// render draws the page into main; params are the route's captures, ctx.query the query
// string. It may return a cleanup function, called when the user navigates away.
export async function render(main, params, ctx) {
  fill(main, h('h1', {}, t('investigate.title')));
}
