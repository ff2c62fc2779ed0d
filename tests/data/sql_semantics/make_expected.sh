#!/usr/bin/env bash
# Regenerates expected_*.csv: PostgreSQL's answers for sql_semantics.csv, and after applying
# sql_semantics_retract.csv (weight -1 deletes one equal row, +1 inserts one; NaN = NaN in
# PostgreSQL's float8 equality). Needs a PostgreSQL server: PSQL="psql -h HOST -p PORT -U USER".
# Made with PostgreSQL 15.18 (Debian 15.18-0+deb12u1).
set -euo pipefail
cd "$(dirname "$0")"
P="${PSQL:-psql} -q -v ON_ERROR_STOP=1"
$P -c "drop table if exists t; create table t(g text, v float8);"
$P -c "\copy t from 'sql_semantics.csv' csv header"
cont() {
  echo "group,n,0,0.25,0.5,0.9,1"
  $P -c "\copy (select g, count(v), $(for p in 0 0.25 0.5 0.9 1; do printf 'percentile_cont(%s) within group (order by v), ' $p; done | sed 's/, $//') from t group by g order by g collate \"C\" nulls last) to stdout csv"
}
disc_desc() {
  echo "group,n,0.1,0.5,1"
  $P -c "\copy (select g, count(v), $(for p in 0.1 0.5 1; do printf 'percentile_disc(%s) within group (order by v desc), ' $p; done | sed 's/, $//') from t group by g order by g collate \"C\" nulls last) to stdout csv"
}
cont > expected_cont.csv
disc_desc > expected_disc_desc.csv
tail -n +2 sql_semantics_retract.csv | while IFS=, read -r g v w; do
  gq=$([ -z "$g" ] && echo "g is null" || echo "g = '$g'")
  vq=$([ -z "$v" ] && echo "v is null" || echo "v = '$v'")
  if [ "$w" = "-1" ]; then
    $P -c "delete from t where ctid in (select min(ctid) from t where $gq and $vq)"
  else
    $P -c "insert into t values ($([ -z "$g" ] && echo null || echo "'$g'"), $([ -z "$v" ] && echo null || echo "'$v'"))"
  fi
done
cont > expected_cont_retracted.csv
disc_desc > expected_disc_desc_retracted.csv
