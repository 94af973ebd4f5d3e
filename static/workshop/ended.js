/* The "not open" page after a reload: this phone's kept result of the session that closed. */
import { showKeptResult } from "./phone/kept-result.js";

showKeptResult();
