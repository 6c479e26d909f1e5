"""Developer tools of Canaria: the dev cluster (`canaria dev-cluster`) and `canaria demo`.

Not part of the product: nothing in ``canaria_serving`` or ``canaria_operator`` imports this
package (import-linter enforces it), and the container image does not ship it. It is in the
wheel so that ``pip install 'canaria[demo]'`` gives a working ``canaria demo``.
"""
