"""``vidssl compare``: pretrain and evaluate a list of methods, then tabulate them.

The package, by job: :mod:`.spec` reads and checks the compare file (below), :mod:`.run` runs its
rows (seeds, reuse of finished work), :mod:`.table` turns results into statistics, markdown and
a chart, :mod:`.results` keeps a results document (``--results``) up to date. The evaluations a
row can list are the protocols of :data:`vidssl.protocols.PROTOCOLS`.

A compare file (YAML) lists the rows of a table such as the paper's ablation (Table VI) or its
comparison with other methods (Table X); each row is one pretraining config, all evaluated the
same way::

    name: ablation                  # table title
    base: ../demo.yaml              # pretraining config shared by all rows (relative to this
                                    # file, or a config shipped with vidssl)
    overrides: [train.epochs=4]     # KEY=VALUE for every row
    evaluations: [pretext, retrieval, probe, finetune]
    out_dir: runs/compare/ablation  # one sub-folder per row; relative to the working directory
    methods:
      - name: order                 # row name = folder name (letters, digits, - _ . +)
        overrides: [loss.rate=0, loss.contrastive=0]
      - name: random
        pretrain: false             # random init: no pretraining, evaluated the same way
      - name: +view
        view: true                  # pretrain with the view module below (view.checkpoint)
    view:                           # only when a method has view: true; trained once, first,
      config: ../view/demo.yaml     # into <out_dir>/_view (default config: base)
      overrides: [train.epochs=2]
    seeds: [0, 1, 2]                # optional: every row runs once per seed (--seeds overrides)
    reference: order                # optional: the row paired differences are taken against
                                    # (default: the first row); `previous`: each row against
                                    # the row above it (a ladder: what each rung adds)

A row's config is ``base`` + ``overrides`` + the row's ``overrides`` + the command line's
``KEY=VALUE`` (last wins), with ``train.out_dir`` set to ``<out_dir>/<name>/pretrain``. The view
module's is ``view.config`` (or ``base``) + ``overrides`` + ``view.overrides`` + the command
line's. All configs are built and validated before anything runs.

Seeds (independent replicates): with ``seeds`` each row runs once per seed in
``<out_dir>/<name>/seed<k>/`` (the view module in ``<out_dir>/_view/seed<k>``), with
``train.seed=k``. The training seed drives everything random about a run: initial weights
(random init's too), sample order, clip draws and augmentation, MoCo's queue, the held-out
pretext clips. The data do not vary: every seed trains and is tested on the same synthetic
videos (``data.synthetic.seed`` stays as configured), so two rows at the same seed are a pair
measured on the same test set, and the interval is over training replicates, not over test
sets. Without ``seeds`` a row runs once, in ``<out_dir>/<name>/``, as before seeds existed
(those folders stay valid; a compare file that gains ``seeds`` runs its seeds beside them and
leaves them alone). ``train.seed`` cannot be overridden in a compare with seeds.

Validation and test: where the data set has a val split (synthetic: ``val_per_class``;
folder: ``data.val_list``), pretext, retrieval and probe are also scored on val (retrieval: val
videos query the train videos; probe: fitted on train, scored on val), cached in
``<evaluation>-val.json``. Choose hyperparameters on val; report test.

Evaluations (each cached in ``<out_dir>/<name>/<evaluation>.json``):
``pretext`` (held-out pretext metrics of the final model: order accuracy, rate error,
contrastive loss, ...), ``retrieval`` (top-k, DESIGN 7), ``probe`` (linear probe) and
``finetune`` (10-clip video accuracy after fine-tuning). Retrieval and probe share one feature
extraction. Every row also gets its cost: backbone parameters and GMACs per training sample
(the forward multiply-accumulates of every network a training sample goes through: each VCOP
clip, the query and the key encoder of MoCo, the view generator weighted by ``view.p``; the
measure of Table VIII).

Resuming: a finished pretraining (checkpoint at ``train.epochs``) is not run again, a partial
one resumes from its checkpoint, a fine-tuning resumes from its own, and an evaluation whose
JSON exists for the same config is read back. A row whose pretraining config changed since it
ran is refused (the folder would mix two experiments) until ``--redo NAME`` clears it
(``--redo _view`` for the view module).

Outputs in ``out_dir``: ``compare.md`` (val table first, then test: mean and 95% t-interval
over seeds per metric, and each row's paired difference against ``reference`` with its
interval), ``compare.json`` (every seed's numbers and the summaries), ``compare.png`` (bar
chart of the test metrics with the intervals as error bars).
"""
