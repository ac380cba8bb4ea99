/**
 * The widget's whole look. `:host { all: initial }` stops the page's inherited styles (font,
 * colour, line height…) at the shadow boundary; everything inside is set here explicitly.
 * `.frame` covers what the screen shows (view.ts sizes it to the visual viewport) and lets
 * clicks through to the page; launcher and panel sit in it. `.compact`: a phone-sized screen.
 */
export const STYLES = `
:host{all:initial}
.frame{position:fixed;left:0;top:0;width:100vw;height:100vh;z-index:2147483000;pointer-events:none;transform-origin:0 0}
.launcher,.panel{position:absolute;right:20px;pointer-events:auto;box-sizing:border-box;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;color:#1d2230;text-align:left}
*,*::before,*::after{box-sizing:border-box}
button,textarea{font:inherit;color:inherit;margin:0}
button{cursor:pointer}
button:focus-visible,textarea:focus-visible{outline:3px solid #f5a524;outline-offset:2px}
.launcher{bottom:20px;width:56px;height:56px;padding:0;border:0;border-radius:50%;background:#2f5bea;color:#fff;box-shadow:0 4px 14px rgba(0,0,0,.25);display:flex;align-items:center;justify-content:center}
.launcher svg{width:28px;height:28px;fill:currentColor}
.panel{bottom:88px;width:360px;max-width:calc(100% - 40px);height:520px;max-height:calc(100% - 108px);display:flex;flex-direction:column;overflow:hidden;background:#fff;border-radius:12px;box-shadow:0 8px 30px rgba(0,0,0,.25)}
.panel[hidden]{display:none}
.head{display:flex;align-items:center;gap:8px;padding:12px 14px;background:#2f5bea;color:#fff}
.title{flex:1;margin:0;font-size:15px;font-weight:600;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
.close{padding:0 8px;border:0;border-radius:6px;background:transparent;font-size:22px;line-height:1.2}
.log{flex:1;overflow-y:auto;padding:12px;background:#f5f6fa}
.messages{display:flex;flex-direction:column;gap:8px;margin:0;padding:0;list-style:none}
li{max-width:85%;padding:8px 10px;border-radius:12px;overflow-wrap:anywhere}
li[data-role=user]{align-self:flex-end;background:#2f5bea;color:#fff;border-bottom-right-radius:4px}
li[data-role=assistant]{align-self:flex-start;background:#fff;border:1px solid #dfe2ec;border-bottom-left-radius:4px}
li[data-status=FAILED]{background:#fdecec;color:#8a1c1c;border:1px solid #f0b3b3}
.text{white-space:pre-wrap}
.meta{display:flex;justify-content:flex-end;align-items:center;gap:6px;margin-top:2px;font-size:11px}
.retry{padding:1px 8px;border:1px solid currentColor;border-radius:6px;background:#fff;color:#8a1c1c;font-size:12px}
.blocked .retry,.blocked .log{display:none}
.blocked .status{flex:1;display:flex;align-items:center;justify-content:center;padding:24px;font-size:15px;text-align:center;color:#1d2230}
.status{margin:0;padding:0 14px;font-size:12px;color:#4d5468}
.status:not(:empty){padding:6px 14px}
.composer{display:flex;gap:8px;margin:0;padding:10px;border-top:1px solid #dfe2ec;background:#fff}
textarea{flex:1;height:44px;padding:8px 10px;border:1px solid #bfc5d4;border-radius:8px;background:#fff;resize:none}
.send{padding:0 14px;border:0;border-radius:8px;background:#2f5bea;color:#fff;font-weight:600}
.send:disabled,textarea:disabled{opacity:.5;cursor:not-allowed}
.sr{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}
.compact .panel{right:0;bottom:0;width:100%;max-width:none;height:100%;max-height:none;border-radius:0}
`;
