#!/bin/sh
# kancc analyze for orders r = 1 and 3 at n = 10 and 50 on [0, 1] (the multilevel paper, Lemma 4 and
# Figure 1): writes docs/multilevel/analyze.txt and the eigen-plots under docs/multilevel/figure1/.
set -e
cd "$(dirname "$0")"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
: > analyze.txt
for degree in 0 2; do
  for grid in 10 50; do
    name="r$((degree + 1))_n$grid"
    printf '[model]\nname = "%s"\nlayers = [1, 1]\ndtype = "float64"\n[basis]\ndegree = %d\ngrid = %d\ndomain = [0, 1]\n' \
      "$name" "$degree" "$grid" > "$tmp/$name.toml"
    echo "\$ kancc analyze $name.toml   # order r = $((degree + 1)), n = $grid" >> analyze.txt
    kancc analyze "$tmp/$name.toml" --plot figure1 | grep -v '^wrote' >> analyze.txt
    echo >> analyze.txt
  done
done
cat analyze.txt
