/* The "not open" page after a reload: this phone's kept result of the session that closed. A phone
   that kept one sees its result, not "not open ... or the code has a typo" under it: the session is
   not unknown to it, it ended. */
import { showKeptResult } from "./phone/kept-result.js";

if (showKeptResult()) {
  var notOpen = document.getElementById("not-open");
  if (notOpen) { notOpen.hidden = true; }
}
