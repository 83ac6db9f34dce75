--- `:checkhealth anneal`
local M = {}

local health = vim.health

function M.check()
  health.start('Neovim')
  local v = vim.version()
  local version = ('%d.%d.%d'):format(v.major, v.minor, v.patch)
  if vim.fn.has('nvim-0.10') == 1 then
    health.ok('Neovim ' .. version)
  else
    health.error('Neovim ' .. version .. ' is too old', { 'Anneal needs Neovim 0.10 or newer' })
  end

  local ok, anneal = pcall(require, 'anneal')
  if not ok then
    health.error('cannot load the anneal module: ' .. tostring(anneal))
    return
  end
  local config = anneal.config or {}

  health.start('Server executable')
  local cmd = config.cmd or { 'anneal', 'serve' }
  local exe = type(cmd) == 'table' and cmd[1] or nil
  if type(exe) ~= 'string' then
    health.info('cmd is not a list; not checked')
  elseif vim.fn.executable(exe) ~= 1 then
    health.error(('`%s` is not executable or not on $PATH'):format(exe), {
      'Build it with `cargo build --release` and put target/release on $PATH,',
      "or give its path: require('anneal').setup{ cmd = { '/path/to/anneal', 'serve' } }",
    })
  else
    local path = vim.fn.exepath(exe)
    local res = vim.system({ exe, '--version' }, { text = true }):wait(10000)
    if res.code == 0 then
      health.ok(('%s (%s)'):format(vim.trim(res.stdout or ''), path ~= '' and path or exe))
    else
      health.error(
        ('`%s --version` failed (exit %s): %s'):format(
          exe,
          tostring(res.code),
          vim.trim(res.stderr or '')
        )
      )
    end
  end

  health.start('Settings')
  if config.init_options ~= nil then
    health.info(
      'init_options: ' .. vim.inspect(config.init_options, { newline = ' ', indent = '' })
    )
    local model = config.init_options.model
    if type(model) == 'string' and model ~= 'default' then
      if vim.fn.isdirectory(vim.fn.expand(model)) == 1 then
        health.ok('checkpoint folder ' .. model .. ' exists')
      else
        health.error('checkpoint folder ' .. model .. ' does not exist')
      end
    else
      health.ok('model: the default embedded model')
    end
  else
    health.ok('no init_options: the server uses its defaults (the embedded model, on the CPU)')
  end
  health.info('filetypes: ' .. table.concat(config.filetypes or {}, ', '))

  health.start('Clients')
  local clients = anneal.clients and anneal.clients() or vim.lsp.get_clients({ name = 'anneal' })
  if #clients == 0 then
    health.warn('no Anneal client is running', {
      "Call require('anneal').setup{} in your config and open a file of one of the filetypes above",
    })
  end
  for _, client in ipairs(clients) do
    local bufs = {}
    for bufnr in pairs(client.attached_buffers or {}) do
      local name = vim.api.nvim_buf_get_name(bufnr)
      bufs[#bufs + 1] = name ~= '' and vim.fn.fnamemodify(name, ':~:.') or ('buffer ' .. bufnr)
    end
    local state = client.initialized and 'initialized' or 'starting'
    if
      client.is_stopped
      and (
        (vim.fn.has('nvim-0.11') == 1 and client:is_stopped())
        or (vim.fn.has('nvim-0.11') ~= 1 and client.is_stopped())
      )
    then
      state = 'stopped'
    end
    local info = client.server_info
        and (client.server_info.name .. ' ' .. (client.server_info.version or ''))
      or ''
    local msg = ('client %d %s (%s), %s, root %s, encoding %s, attached to %s'):format(
      client.id,
      info,
      state,
      table.concat(client.config.cmd or {}, ' '),
      tostring(client.root_dir or client.config.root_dir),
      tostring(client.offset_encoding),
      #bufs > 0 and table.concat(bufs, ', ') or 'no buffer'
    )
    if state == 'initialized' and #bufs > 0 then
      health.ok(msg)
    else
      health.warn(msg)
    end
  end
  if anneal.progress then
    local p = anneal.progress
    health.info(
      ('last progress: %s%s'):format(p.title or '', p.message and (': ' .. p.message) or '')
    )
  end
end

return M
