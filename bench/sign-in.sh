# Sourced by bench/run, bench/ab and bench/cpu: signing in to a Stagecoach
# server as a browser does.
#
# GET /login sets the signed login cookie and puts its token in the form;
# POST /login with both signs in and sets the session cookie. The session's
# own CSRF token is in every page's sign-out form.

# The first csrf_token of the HTML on standard input.
csrf_of() { sed -n 's/.*name="csrf_token" value="\([^"]*\)".*/\1/p' | head -n 1; }

# sign_in BASE USER PASSWORD: prints "cookie<TAB>token" (the Cookie header
# of the session and its CSRF token); says why on standard error and
# returns 1 when it cannot.
sign_in() {
  local base=$1 user=$2 password=$3 jar page csrf status cookie token
  jar=$(mktemp)
  page=$(curl -fsS -c "$jar" -b "$jar" "$base/login") || { echo "sign-in: GET /login failed" >&2; rm -f "$jar"; return 1; }
  csrf=$(printf '%s' "$page" | csrf_of)
  [ -n "$csrf" ] || { echo "sign-in: no csrf_token in the login form" >&2; rm -f "$jar"; return 1; }
  status=$(curl -sS -o /dev/null -w '%{http_code}' -c "$jar" -b "$jar" \
    -H "Origin: $base" \
    --data-urlencode "csrf_token=$csrf" --data-urlencode "username=$user" \
    --data-urlencode "password=$password" --data-urlencode "next=/" \
    "$base/login")
  cookie=$(awk -F '\t' 'NF >= 7 && $1 !~ /^# / { printf "%s%s=%s", sep, $6, $7; sep = "; " }' "$jar")
  rm -f "$jar"
  [ "$status" = 303 ] || { echo "sign-in: $user answered $status, not 303" >&2; return 1; }
  [ -n "$cookie" ] || { echo "sign-in: no session cookie after the sign-in of $user" >&2; return 1; }
  page=$(curl -fsS -H "Cookie: $cookie" "$base/") || { echo "sign-in: the dashboard failed after the sign-in of $user" >&2; return 1; }
  token=$(printf '%s' "$page" | csrf_of)
  [ -n "$token" ] || { echo "sign-in: no csrf_token on the dashboard of $user" >&2; return 1; }
  printf '%s\t%s\n' "$cookie" "$token"
}
