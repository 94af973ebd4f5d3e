/* Waiting before the next try: half the base plus up to half again (so that a room of phones
   does not come back in one wave), the base doubling from `first` up to `max`. */
export function jittered(first, max, attempt) {
  var base = Math.min(max, first * Math.pow(2, attempt));
  return base / 2 + Math.random() * base / 2;
}
